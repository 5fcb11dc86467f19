import { describeTarget } from '../../db/target.js';
import { ExitCode } from '../../errors.js';
import { migrationStatus } from '../../migrators/status.js';
import type { GlobalArgs } from '../options.js';
import { runCommand } from '../shared.js';

export function current(args: GlobalArgs): Promise<void> {
  return runCommand({ name: 'current', args, consoleLevel: 'warn' }, async (context) => {
    const target = context.target();
    const status = await migrationStatus(context.migrator(), target, context.toolSession());
    const entry = status.entries.find((candidate) => candidate.id === status.current);
    const text = status.current === null ? 'base (no migrations applied)' : `${status.current}${status.current === status.head ? ' (head)' : ''}${entry?.description ? `  ${entry.description}` : ''}`;
    return {
      exitCode: ExitCode.Success,
      text,
      json: { database: describeTarget(target), current: status.current, head: status.head, atHead: status.current === status.head, description: entry?.description ?? null },
    };
  });
}

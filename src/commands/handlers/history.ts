import { describeTarget } from '../../db/target.js';
import { ExitCode } from '../../errors.js';
import { migrationStatus } from '../../migrators/status.js';
import type { GlobalArgs } from '../options.js';
import { runCommand } from '../shared.js';

export function history(args: GlobalArgs): Promise<void> {
  return runCommand({ name: 'history', args, consoleLevel: 'warn' }, async (context) => {
    const target = context.target();
    const status = await migrationStatus(context.migrator(), target, context.toolSession());
    const width = Math.max(0, ...status.entries.map((entry) => entry.id.length));
    const lines = status.entries.map(
      (entry) =>
        `${entry.applied ? 'applied' : 'pending'}  ${entry.id.padEnd(width)}  ${entry.description}${(entry.parents?.length ?? 0) > 1 ? `  (merges ${entry.parents?.join(', ')})` : ''}${entry.id === status.current ? '  <- current' : ''}`,
    );
    const summary = `${status.entries.length - status.pending.length} applied, ${status.pending.length} pending`;
    return {
      exitCode: ExitCode.Success,
      text: [...lines, summary].join('\n'),
      json: { database: describeTarget(target), current: status.current, head: status.head, migrations: status.entries },
    };
  });
}

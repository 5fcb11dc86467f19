import { describeTarget } from '../../db/target.js';
import { ExitCode } from '../../errors.js';
import { migrationStatus } from '../../migrators/status.js';
import type { GlobalArgs } from '../options.js';
import { runCommand } from '../shared.js';

export function check(args: GlobalArgs): Promise<void> {
  return runCommand({ name: 'check', args, consoleLevel: 'warn' }, async (context) => {
    const target = context.target();
    const status = await migrationStatus(context.migrator(), target, context.toolSession());
    const upToDate = status.pending.length === 0;
    return {
      exitCode: upToDate ? ExitCode.Success : ExitCode.Pending,
      text: upToDate
        ? `up to date at ${status.current ?? 'base'}`
        : `${status.pending.length} pending migration${status.pending.length === 1 ? '' : 's'}: ${status.pending.map((entry) => entry.id).join(', ')}`,
      json: { database: describeTarget(target), upToDate, current: status.current, head: status.head, pending: status.pending.map(({ id, description }) => ({ id, description })) },
    };
  });
}

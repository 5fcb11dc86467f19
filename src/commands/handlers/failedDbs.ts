import { formatBytes } from '../../backup/progress.js';
import { listFailedDatabases } from '../../daemon/failedDatabases.js';
import { ExitCode } from '../../errors.js';
import type { GlobalArgs } from '../options.js';
import { runCommand } from '../shared.js';

export function failedDbs(args: GlobalArgs): Promise<void> {
  return runCommand({ name: 'failed-dbs', args, consoleLevel: 'warn' }, async (context) => {
    const keepDays = context.settings.rollback.keepFailedDays;
    const databases = await listFailedDatabases(context.target(), context.applicationName, context.settings.reportDir, keepDays, new Date());
    const rows = [
      ['DATABASE', 'RUN', 'SIZE', 'FAILED AT', 'AGE', 'STATUS'],
      ...databases.map((database) => [
        database.name,
        database.runId,
        formatBytes(database.bytes),
        database.failedAt?.toISOString().slice(0, 19).replace('T', ' ') ?? 'unknown',
        database.ageDays === undefined ? '?' : `${database.ageDays.toFixed(1)} d`,
        database.expired ? 'expired: next retention run drops it' : database.ageDays === undefined ? 'kept: no record of the run, never dropped automatically' : 'kept',
      ]),
    ];
    const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
    const text = databases.length > 0 ? rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n') : `no failed-run databases of ${context.target().database}`;
    return {
      exitCode: ExitCode.Success,
      json: { keepFailedDays: keepDays, databases: databases.map((database) => ({ ...database, failedAt: database.failedAt?.toISOString() ?? null, ageDays: database.ageDays ?? null })) },
      text,
    };
  });
}

import { EXIT_CODES, ExitCode } from '../errors.js';
import { formatDuration } from '../log/format.js';
import type { MigrationRunResult } from '../pipeline/migrationRun.js';

/** Where production was left (the revision read after the run) and what the exit code says of it (EXIT_CODES). */
function productionState(result: MigrationRunResult): string {
  const { report } = result;
  const at = `${report.database} at revision ${report.revisionAfter ?? 'base'}`;
  switch (result.exitCode) {
    case ExitCode.Success:
      return report.revisionAfter === report.revisionBefore ? `${at}, unchanged` : `${at}, validated`;
    case ExitCode.RolledBack:
      return `${at}, verified equal to before the run`;
    default:
      return `${at} (${EXIT_CODES[result.exitCode].production})`;
  }
}

/**
 * The end of a run on the terminal, for the person on call: the outcome in words with the exit code,
 * why, what production looks like now, the next command when a human must act, and the report.
 */
export function renderRunSummary(result: MigrationRunResult): string {
  const { report } = result;
  const row = EXIT_CODES[result.exitCode];
  const rollback = report.details.rollback as { nextCommand?: string } | undefined;
  const headline = result.exitCode === ExitCode.NeedsHuman ? 'NEEDS A HUMAN' : result.exitCode === ExitCode.Success ? 'succeeded' : row.meaning.split(';')[0];
  const lines = [
    `${headline} (exit ${result.exitCode}, ${formatDuration(report.durationMs)}): ${result.message}`,
    `production: ${productionState(result)}`,
  ];
  if (result.exitCode === ExitCode.NeedsHuman) lines.push(`next: ${rollback?.nextCommand ?? row.next}`);
  if (result.reportFiles) lines.push(`report: ${result.reportFiles.markdown}`);
  return lines.join('\n');
}

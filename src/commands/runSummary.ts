import { ExitCode } from '../errors.js';
import { formatDuration } from '../log/format.js';
import type { MigrationRunResult } from '../pipeline/migrationRun.js';

/** What production looks like after a run that exited with this code (CONTRACT.md's exit-code table). */
function productionState(result: MigrationRunResult): string {
  const { report } = result;
  const at = `${report.database} at revision ${report.revisionAfter ?? 'base'}`;
  switch (result.exitCode) {
    case ExitCode.Success:
      return report.revisionAfter === report.revisionBefore ? `${at}, unchanged` : `${at}, validated`;
    case ExitCode.RolledBack:
      return `${at}, verified equal to before the run`;
    case ExitCode.NeedsHuman:
      return `${at}: NOT verified, a human must decide`;
    default:
      return `${at}, untouched`;
  }
}

const HEADLINES: Readonly<Partial<Record<ExitCode, string>>> = {
  [ExitCode.Success]: 'succeeded',
  [ExitCode.Usage]: 'usage or configuration error',
  [ExitCode.Refused]: 'refused',
  [ExitCode.Locked]: 'another run holds the migration lock',
  [ExitCode.RehearsalFailed]: 'the rehearsal failed',
  [ExitCode.RolledBack]: 'failed and rolled back',
  [ExitCode.NeedsHuman]: 'NEEDS A HUMAN',
};

/**
 * The end of a run on the terminal, for the person on call: the outcome in words with the exit code,
 * why, what production looks like now, the next command when a human must act, and the report.
 */
export function renderRunSummary(result: MigrationRunResult): string {
  const { report } = result;
  const rollback = report.details.rollback as { nextCommand?: string } | undefined;
  const headline = HEADLINES[result.exitCode] ?? result.outcome;
  const lines = [
    `${headline} (exit ${result.exitCode}, ${formatDuration(report.durationMs)}): ${result.message}`,
    `production: ${productionState(result)}`,
  ];
  if (result.exitCode === ExitCode.NeedsHuman && rollback?.nextCommand) lines.push(`next: ${rollback.nextCommand}`);
  if (result.reportFiles) lines.push(`report: ${result.reportFiles.markdown}`);
  return lines.join('\n');
}

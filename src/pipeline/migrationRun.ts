import type { RunContext } from '../context.js';
import { describeTarget } from '../db/target.js';
import { ExitCode, OrchestrateError, errorMessage } from '../errors.js';
import { notifyRunFinished } from '../notify/index.js';
import { whoRanIt, writeRunReport, type RunReport } from '../report/runReport.js';
import { backUp, lockAndSnapshot, migrateProduction, releaseLock, validateProduction } from './production.js';
import { preflight } from './preflight.js';
import { recoverBeforeRun } from './recovery.js';
import { RunRecorder } from './recorder.js';
import { dropScratch, rehearse } from './rehearsal.js';
import { judgeMeasurements } from './safety.js';
import { proveToolTargetStep } from './targetProof.js';
import { rollBack } from './rollback.js';
import { runSteps, type Step, type UndoResult } from './runner.js';
import type { RunStatus } from './journal.js';
import { newRunState, type MigrationRunOptions, type MigrationRunState } from './state.js';
import { withInterruptHandler } from './interrupt.js';

export interface MigrationRunResult {
  readonly exitCode: ExitCode;
  readonly outcome: RunStatus;
  readonly message: string;
  readonly report: RunReport;
  readonly reportFiles?: { readonly json: string; readonly markdown: string };
}

const OUTCOMES: Readonly<Record<number, RunStatus>> = {
  [ExitCode.Success]: 'succeeded',
  [ExitCode.Usage]: 'refused',
  [ExitCode.Refused]: 'refused',
  [ExitCode.Locked]: 'locked',
  [ExitCode.RehearsalFailed]: 'rehearsal-failed',
  [ExitCode.RolledBack]: 'rolled-back',
  [ExitCode.NeedsHuman]: 'needs-human',
};

/**
 * The migrate step stopped before it started the tool (the lock was lost, or a signal came): there is
 * nothing to undo, and the exit code is the lost lock's (4) or an interrupt's before production (3).
 */
function untouched(cause: unknown): Promise<UndoResult> {
  const exitCode = cause instanceof OrchestrateError ? cause.exitCode : ExitCode.Refused;
  return Promise.resolve({ exitCode, detail: 'production was not touched: nothing to roll back' });
}

/** The pipeline as data: the steps of an upgrade or a downgrade, in order. */
export function migrationSteps(options: MigrationRunOptions): Step<MigrationRunState>[] {
  return [
    // Crash recovery comes first: a half-done run must be reported before anything is planned.
    {
      name: 'preflight',
      run: async (state) => {
        const recovered = await recoverBeforeRun(state);
        try {
          return await preflight(state);
        } finally {
          // Logged when found; preflight logs the warnings it collects, so these join the report after it.
          state.warnings.unshift(...recovered);
        }
      },
      failureCode: ExitCode.Refused,
      cleanup: releaseLock,
    },
    { name: 'tool target', run: proveToolTargetStep, failureCode: ExitCode.Refused },
    { name: 'lock', run: lockAndSnapshot, failureCode: ExitCode.Refused, cleanup: releaseLock },
    { name: 'backup', run: backUp, failureCode: ExitCode.Refused, skipWhen: () => (options.skipBackup ? 'skipped by --skip-backup' : undefined) },
    {
      name: 'rehearsal',
      run: rehearse,
      failureCode: ExitCode.RehearsalFailed,
      cleanup: dropScratch,
      skipWhen: () =>
        options.skipRehearsal
          ? options.command === 'rollback'
            ? 'rollback runs without a rehearsal (use downgrade for a rehearsed one)'
            : 'skipped by --skip-test'
          : options.skipBackup
            ? 'needs the pre-migration backup, skipped by --skip-backup'
            : undefined,
    },
    { name: 'policy', run: judgeMeasurements, failureCode: ExitCode.Refused, skipWhen: (state) => (state.rehearsal ? undefined : 'no rehearsal: nothing measured') },
    { name: 'migrate', run: migrateProduction, failureCode: ExitCode.NeedsHuman, undo: (state, cause) => (state.productionTouched ? rollBack(state) : untouched(cause)) },
    { name: 'validate', run: validateProduction, failureCode: ExitCode.NeedsHuman },
  ];
}

function summarise(state: MigrationRunState, exitCode: ExitCode, failedStep: string | undefined, error: unknown, undoDetail: string | undefined, stoppedEarly: boolean): string {
  const plan = state.plan;
  if (exitCode === ExitCode.Success) {
    if (stoppedEarly || !plan || plan.migrations.length === 0) return `up to date at ${plan?.from ?? 'base'}: nothing to do`;
    return `${state.options.direction === 'upgrade' ? 'upgraded' : 'downgraded'} ${plan.from ?? 'base'} -> ${plan.to ?? 'base'} (${plan.migrations.length} migration${plan.migrations.length === 1 ? '' : 's'}), validated`;
  }
  // Messages may end in a full stop of their own: one sentence end, never "..".
  const reason = `${failedStep ?? 'run'} failed: ${errorMessage(error).replace(/\.+$/, '')}`;
  if (undoDetail) return `${reason}. ${undoDetail}`;
  return exitCode === ExitCode.RehearsalFailed || exitCode === ExitCode.Refused || exitCode === ExitCode.Locked || exitCode === ExitCode.Usage
    ? `${reason}. Production was not touched.`
    : reason;
}

/** How long reading the revision after a run may take: the run is over, a hung tool must not hold up its report. */
const REVISION_AFTER_TIMEOUT_MS = 30_000;

/**
 * The revision the database is at after the run, as the tool reads it: the report and the audit line
 * say where production was left, not where the plan meant it to be (an exit 7 can leave it anywhere).
 * Undefined, with a warning, when it cannot be read.
 */
async function revisionNow(state: MigrationRunState): Promise<string | null | undefined> {
  try {
    const { current } = await state.migrator.state(state.target, { applicationName: state.names.inspect, timeoutMs: REVISION_AFTER_TIMEOUT_MS });
    return current;
  } catch (error) {
    state.warnings.push(`the revision after the run could not be read: ${errorMessage(error)}`);
    return undefined;
  }
}

/** Runs an upgrade, downgrade or rollback pipeline end to end and writes its report. */
export async function runMigration(context: RunContext, options: MigrationRunOptions): Promise<MigrationRunResult> {
  const target = context.target();
  const steps = migrationSteps(options);
  const recorder = new RunRecorder(context.settings.reportDir, context.logger, {
    runId: context.runId,
    command: options.command,
    applicationName: context.applicationName,
    startedAt: context.startedAt,
    steps: steps.map((step) => step.name),
  });
  const state = newRunState(context, options, recorder);
  recorder.detail('database', target.database);
  if (options.reason) recorder.detail('reason', options.reason);

  const outcome = await withInterruptHandler(state.interrupt, context.logger, () => runSteps(steps, state, recorder, state.interrupt.signal));
  const status = OUTCOMES[outcome.exitCode] ?? 'failed';
  const summary = summarise(state, outcome.exitCode, outcome.failedStep, outcome.error, outcome.undo?.detail, outcome.stoppedEarly);
  // A lock lost mid-migration is said in the summary line itself, whatever the outcome.
  const message = state.lockLosses.length > 0 ? `${summary}. RUN LOCK LOST during the production migration: ${state.lockLosses.join('; ')}` : summary;
  state.warnings.push(...state.lockLosses);
  recorder.finish(status, outcome.exitCode);

  const finishedAt = new Date();
  const revisionAfter = await revisionNow(state);
  const who = whoRanIt();
  const report: RunReport = {
    runId: context.runId,
    command: options.command,
    outcome: status,
    exitCode: outcome.exitCode,
    message,
    startedAt: context.startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - context.startedAt.getTime(),
    env: context.settings.env,
    database: describeTarget(target),
    tool: state.migrator.tool,
    revisionBefore: state.before?.revision ?? state.plan?.from ?? null,
    revisionAfter,
    who,
    steps: recorder.journal.steps,
    warnings: state.warnings,
    logFile: context.logFile,
    details: recorder.journal.details,
  };
  const reportFiles = writeRunReport(context.settings.reportDir, report, {
    runId: context.runId,
    command: options.command,
    outcome: status,
    exitCode: outcome.exitCode,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    durationMs: report.durationMs,
    env: report.env,
    database: report.database,
    user: who.user,
    host: who.host,
    revisionBefore: report.revisionBefore,
    revisionAfter,
    target: state.plan?.to ?? null,
    ...(state.backup ? { backupId: state.backup.id } : {}),
    forced: options.force,
    ...(options.reason ? { reason: options.reason } : {}),
  });
  const log = outcome.exitCode === ExitCode.Success ? context.logger.info.bind(context.logger) : context.logger.error.bind(context.logger);
  log({ exitCode: outcome.exitCode, outcome: status, report: reportFiles.markdown }, message);
  // Bounded by its own time budget and never throws: a dead webhook cannot change the run's outcome.
  await notifyRunFinished(context.settings, context.logger, {
    runId: context.runId,
    command: options.command,
    outcome: status,
    exitCode: outcome.exitCode,
    database: report.database,
    env: report.env,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    durationMs: report.durationMs,
    reportPath: reportFiles.markdown,
    message,
  });
  return { exitCode: outcome.exitCode, outcome: status, message, report, reportFiles };
}

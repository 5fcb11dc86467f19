import { createBackup } from '../backup/index.js';
import { withClient } from '../db/client.js';
import { ExitCode, OrchestrateError, ToolError } from '../errors.js';
import { failureSummary } from '../exec/process.js';
import { validateDatabase } from '../validation/checks.js';
import { readBackNewBackup } from './backupReadBack.js';
import { readJournals, writeJournal } from './journal.js';
import { planRun } from './preflight.js';
import type { StepResult } from './runner.js';
import { acquireRunLock } from './runLock.js';
import { takeSnapshot } from './snapshot.js';
import { toolRunRecord, type MigrationRunState } from './state.js';
import { liveClientCheck, runTool, stopToolBackends } from './toolStep.js';

/**
 * Takes the run lock, then looks for runs that died mid-way (their journal still says running while
 * nobody holds the lock), stops their leftover backends, and takes the "before" snapshot under the lock.
 */
export async function lockAndSnapshot(state: MigrationRunState): Promise<StepResult> {
  const { context, target } = state;
  state.lock = await acquireRunLock(target, state.names.lock, context.settings.pipeline.lockWaitSeconds);

  for (const journal of readJournals(context.settings.reportDir)) {
    if (journal.status !== 'running' || journal.runId === context.runId || journal.details.database !== target.database) continue;
    const stopped = await stopToolBackends(target, journal.applicationName, state.names.inspect);
    journal.status = 'failed';
    journal.details.interruptedFoundBy = context.runId;
    writeJournal(context.settings.reportDir, journal);
    state.warnings.push(`run ${journal.runId} (started ${journal.startedAt}) was interrupted; stopped ${stopped.cancelled.length + stopped.terminated.length} leftover backends`);
    context.logger.warn({ interruptedRun: journal.runId, ...stopped }, 'found an interrupted run');
  }

  // Another run may have moved the database between preflight and the lock.
  const previous = state.plan;
  state.plan = await planRun(state);
  if (previous && state.plan.from !== previous.from) context.logger.warn({ was: previous.from, now: state.plan.from }, 'the revision changed since preflight; plan refreshed');
  if (state.plan.migrations.length === 0) return { detail: `up to date at ${state.plan.from ?? 'base'} (another run applied it)`, stop: true };

  state.before = await takeSnapshot(target, state.plan.from, state.names.inspect);
  state.recorder.detail('before', { revision: state.before.revision, fingerprint: state.before.fingerprint.hash, rowEstimates: state.before.rowEstimates });
  return { detail: `lock held; before: revision ${state.before.revision ?? 'base'}, schema ${state.before.fingerprint.hash.slice(0, 12)}` };
}

export async function releaseLock(state: MigrationRunState): Promise<void> {
  await state.lock?.release();
  state.lock = undefined;
}

export async function backUp(state: MigrationRunState): Promise<StepResult> {
  const { context, target, before } = state;
  const manifest = await createBackup(context, target, { reason: 'pre-migration', revision: before?.revision ?? null });
  state.backup = manifest;
  state.recorder.backupId = manifest.id;
  const readBack = await readBackNewBackup(state, manifest);
  return { detail: `${manifest.id} (${manifest.bytes} bytes, sha256 ${manifest.sha256.slice(0, 12)}, ${readBack})` };
}

/** Production, under lock_timeout and a wall-clock limit; on any failure its server backends are stopped too. */
export async function migrateProduction(state: MigrationRunState): Promise<StepResult> {
  const { context, target, plan } = state;
  if (!plan) throw new Error('migrate needs a plan');
  const { pipeline } = context.settings;
  const run = await runTool(state.migrator, target, state.options.direction, plan.to, {
    applicationName: state.names.tool,
    lockTimeoutMs: pipeline.lockTimeoutMs,
    ...liveClientCheck(state.serverVersionNum),
    timeoutMs: pipeline.timeoutSeconds * 1000,
    cancelSignal: state.interrupt.signal,
    onOutput: (chunk) => context.logger.debug({ output: chunk }, 'tool output'),
  });
  state.production = toolRunRecord(run);
  state.recorder.detail('production', state.production);
  if (run.ok) return { detail: `${plan.from ?? 'base'} -> ${plan.to ?? 'base'} in ${run.durationMs} ms` };

  const stopped = await stopToolBackends(target, state.names.tool, state.names.inspect);
  state.recorder.detail('stoppedBackends', stopped);
  const why = run.timedOut
    ? `timed out after ${pipeline.timeoutSeconds} s (tool stopped, ${stopped.cancelled.length} server backends cancelled, ${stopped.terminated.length} terminated)`
    : run.cancelled
      ? 'was interrupted'
      : `failed: ${failureSummary(run.stderr || run.stdout)}`;
  // NeedsHuman unless the undo (rollback) that follows verifies: its verdict decides the exit code.
  throw new ToolError(`the production migration ${why}`, run.stderr, ExitCode.NeedsHuman);
}

/** Production was changed and does not validate: a human is needed unless the rollback verifies. */
class ValidationFailed extends OrchestrateError {
  constructor(message: string) {
    super(message, ExitCode.NeedsHuman);
  }
}

/** Revision at the target, schema equal to the rehearsed one, no NOT VALID constraint or invalid index, critical tables, smoke queries. */
export async function validateProduction(state: MigrationRunState): Promise<StepResult> {
  const { context, target, plan } = state;
  if (!plan) throw new Error('validate needs a plan');
  const { current } = await state.migrator.state(target, { applicationName: state.names.inspect });
  const checks = await withClient(target, state.names.inspect, (client) =>
    validateDatabase(client, {
      ...context.settings.validation,
      ...(state.rehearsal ? { expectedFingerprint: state.rehearsal.fingerprintAfter, expectedLabel: 'rehearsal' } : {}),
    }),
  );
  const revisionCheck = {
    name: 'revision',
    status: current === plan.to ? ('pass' as const) : ('fail' as const),
    detail: current === plan.to ? `at ${current ?? 'base'}` : `at ${current ?? 'base'}, expected ${plan.to ?? 'base'}`,
  };
  state.validation = [revisionCheck, ...checks];
  state.recorder.detail('validation', state.validation);
  const failed = state.validation.filter((check) => check.status === 'fail');
  if (failed.length > 0) throw new ValidationFailed(`validation failed: ${failed.map((check) => `${check.name}: ${check.detail}`).join('; ')}`);
  return { detail: `${state.validation.length} checks passed` };
}

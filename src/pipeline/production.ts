import { createBackup } from '../backup/index.js';
import { withClient } from '../db/client.js';
import { ExitCode, OrchestrateError, ToolError } from '../errors.js';
import { failureSummary } from '../exec/process.js';
import { validateDatabase } from '../validation/checks.js';
import { readBackNewBackup } from './backupReadBack.js';
import { planRun } from './preflight.js';
import type { StepResult } from './runner.js';
import { takeRunLock } from './runLockEvents.js';
import { takeSnapshot } from './snapshot.js';
import { toolRunRecord, type MigrationRunState } from './state.js';
import { lockFailureNote, runPipelineTool } from './lockRetry.js';
import { stopToolBackends } from './toolStep.js';

/**
 * Takes the run lock (unless crash recovery already took it) and the "before" snapshot under it.
 * Runs that died mid-way were dealt with by recoverBeforeRun, before preflight.
 */
export async function lockAndSnapshot(state: MigrationRunState): Promise<StepResult> {
  const { context, target } = state;
  state.lock ??= await takeRunLock(state);

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

/**
 * Production, under lock_timeout and a wall-clock limit, retrying lock timeouts that provably changed
 * nothing (lockRetry.ts); on any failure its server backends are stopped too.
 */
export async function migrateProduction(state: MigrationRunState): Promise<StepResult> {
  const { context, target, plan, before } = state;
  if (!plan || !before) throw new Error('migrate needs a plan and a before snapshot');
  const { pipeline } = context.settings;
  // Proven on the lock's own session right before production: a loss until now stops the run (exit 4).
  await state.lock?.assertHeld();
  // A stop requested while that was checked (a signal, a loss taken back at once) still finds production untouched.
  state.interrupt.signal.throwIfAborted();
  state.productionTouched = true;
  const retried = await runPipelineTool(state, {
    db: target,
    applicationName: state.names.tool,
    before,
    label: 'production',
    onOutput: (chunk) => context.logger.debug({ output: chunk }, 'tool output'),
  });
  const { run } = retried;
  state.production = toolRunRecord(run);
  state.recorder.detail('production', state.production);
  const attempts = retried.attempts.length > 1 ? ` (attempt ${retried.attempts.length} of ${retried.attempts.length}; earlier ones timed out waiting for a lock)` : '';
  if (run.ok) return { detail: `${plan.from ?? 'base'} -> ${plan.to ?? 'base'} in ${run.durationMs} ms${attempts}` };

  const stopped = await stopToolBackends(target, state.names.tool, state.names.inspect);
  state.recorder.detail('stoppedBackends', stopped);
  // Named by its database, not "production": the env may be staging or development.
  const on = `on ${target.database}`;
  const why = run.timedOut
    ? `timed out after ${pipeline.timeoutSeconds} s ${on} (tool stopped, ${stopped.cancelled.length} server backends cancelled, ${stopped.terminated.length} terminated)`
    : run.cancelled
      ? `was interrupted ${on}`
      : `failed ${on}: ${failureSummary(run.stderr || run.stdout)}${lockFailureNote(retried, state.preflightChecks)}`;
  // NeedsHuman unless the undo (rollback) that follows verifies: its verdict decides the exit code.
  throw new ToolError(`the migration ${why}`, run.stderr, ExitCode.NeedsHuman);
}

/** Production was changed and does not validate: a human is needed unless the rollback verifies. */
class ValidationFailed extends OrchestrateError {
  constructor(message: string) {
    super(message, ExitCode.NeedsHuman);
  }
}

/** Revision at the target, schema changed as in the rehearsal, no NOT VALID constraint or invalid index, critical tables, smoke queries. */
export async function validateProduction(state: MigrationRunState): Promise<StepResult> {
  const { context, target, plan } = state;
  if (!plan) throw new Error('validate needs a plan');
  const { current } = await state.migrator.state(target, { applicationName: state.names.inspect });
  const checks = await withClient(target, state.names.inspect, (client) =>
    validateDatabase(client, {
      ...context.settings.validation,
      // What production's migration changed must be what the rehearsal's changed: comparing the end
      // states would also compare how pg_restore re-rendered objects neither touched.
      ...(state.rehearsal && state.before
        ? { expectedChange: { before: state.before.fingerprint, expected: { before: state.rehearsal.fingerprintBefore, after: state.rehearsal.fingerprintAfter } }, expectedLabel: 'rehearsal' }
        : {}),
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

import { withClient } from '../db/client.js';
import { ExitCode, errorMessage } from '../errors.js';
import { failureSummary, type ProgramRun } from '../exec/process.js';
import { withoutToolTables } from '../migrators/versionTables.js';
import { canPrompt, confirm } from '../util/prompt.js';
import { activityDelta, tableActivity, type TableActivity } from '../validation/data.js';
import { diffFingerprints, schemaFingerprint, type SchemaFingerprint } from '../validation/fingerprint.js';
import type { UndoResult } from './runner.js';
import { scratchDatabaseName } from './rehearsal.js';
import { compareWithSnapshot, type Snapshot } from './snapshot.js';
import { startRestoreCopy, type RestoreCopy } from './restoreCopy.js';
import type { MigrationRunState, RollbackRecord } from './state.js';
import { liveClientCheck, reverse, runTool, stopToolBackends } from './toolStep.js';

function totalRows(window: Readonly<Record<string, TableActivity>>): number {
  return Object.values(window).reduce((sum, table) => sum + table.inserted + table.updated + table.deleted, 0);
}

/** The command a person runs when the orchestrator stops short of a verified state. */
function restoreCommand(state: MigrationRunState): string {
  return state.backup
    ? `orchestrate restore ${state.backup.id} --into ${state.target.database} --allow-source --yes`
    : `restore "${state.target.database}" from your latest good backup, then run orchestrate validate`;
}

/**
 * Differences between a copy restored from the pre-migration backup and the database before the run.
 * The restore re-renders some expressions (rendering.ts); beyond what diffFingerprints already treats
 * as equal, the rehearsal's scratch copy is the exact reference when there is one: the same archive,
 * restored by the same pg_restore. Equal to either is verified.
 */
function restoreDifferences(state: MigrationRunState, before: SchemaFingerprint, restored: SchemaFingerprint): string[] {
  const differences = diffFingerprints(before, restored, { expected: 'before the run', actual: 'restored' });
  const sameArchive = state.rehearsal?.fingerprintBefore;
  if (differences.length > 0 && sameArchive && diffFingerprints(sameArchive, restored).length === 0) return [];
  return differences;
}

function finish(state: MigrationRunState, record: RollbackRecord, exitCode: ExitCode, detail: string): UndoResult {
  state.rollback = record;
  state.recorder.detail('rollback', record);
  return { exitCode, detail };
}

/** Rollback writes: only while this run holds the lock, never alongside another run that took it. */
async function lockProblem(state: MigrationRunState): Promise<string | undefined> {
  if (!state.lock) return 'this run does not hold the migration lock';
  try {
    await state.lock.assertHeld();
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * Whether the restore copy is made while the downgrade is tried: only where a failed downgrade is
 * followed by the restore without asking anyone (rollback.restore auto, a backup to restore).
 */
function overlapsDowngrade(state: MigrationRunState): boolean {
  const { rollback } = state.context.settings;
  return rollback.overlapRestore && rollback.restore === 'auto' && state.backup !== undefined;
}

/**
 * Returns production to the "before" snapshot. First the tool's own reverse migration, verified
 * against the snapshot (revision and schema fingerprint). If that fails or does not verify, a restore
 * from the pre-migration backup, gated by rollback.restore, after measuring the writes it would discard.
 * With rollback.overlapRestore (and restore auto) the backup is restored into a new database beside
 * production while the downgrade runs: swapped in after the same checks if the downgrade fails,
 * dropped if it verifies. Verified: exit 6. Anything short of verified: exit 7 with the exact next command.
 */
export async function rollBack(state: MigrationRunState): Promise<UndoResult> {
  const { context, target, before } = state;
  const record: RollbackRecord = { path: 'none', verified: false, attempts: [], differences: [] };
  if (!before) return finish(state, record, ExitCode.NeedsHuman, 'no "before" snapshot was taken: cannot verify a rollback');
  const logger = context.logger;

  await stopToolBackends(target, state.names.tool, state.names.inspect).catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'could not stop tool backends'));
  const lockLost = await lockProblem(state);
  if (lockLost) {
    record.nextCommand = restoreCommand(state);
    return finish(state, record, ExitCode.NeedsHuman, `not rolling back: ${lockLost}`);
  }

  const keptFailedDatabase = scratchDatabaseName(target.database, context.runId, 'failed');
  const overlapped = state.backup && overlapsDowngrade(state) ? startRestoreCopy(state, state.backup.id, keptFailedDatabase, true) : undefined;
  if (overlapped) record.restoreCopy = overlapped.record;
  try {
    return await downgradeOrRestore(state, before, record, keptFailedDatabase, overlapped);
  } finally {
    if (overlapped) {
      await overlapped.discard();
      if (overlapped.record.outcome === 'dropped') record.attempts.push(`restore copy ${overlapped.record.database}, prepared alongside the downgrade, dropped unused`);
      state.recorder.detail('rollback', record);
    }
  }
}

async function downgradeOrRestore(state: MigrationRunState, before: Snapshot, record: RollbackRecord, keptFailedDatabase: string, overlapped: RestoreCopy | undefined): Promise<UndoResult> {
  const { context, target } = state;
  const { pipeline, rollback } = context.settings;
  const logger = context.logger;
  // The interrupt signal may already be aborted (Ctrl-C is why we are here): the rollback gets its own limits.
  const direction = reverse(state.options.direction);
  const downgradeStarted = performance.now();
  let reverseRun: ProgramRun | undefined;
  try {
    reverseRun = await runTool(state.migrator, target, direction, before.revision, {
      applicationName: state.names.tool,
      lockTimeoutMs: pipeline.lockTimeoutMs,
      ...liveClientCheck(state.serverVersionNum),
      timeoutMs: pipeline.timeoutSeconds * 1000,
      onOutput: (chunk) => logger.debug({ output: chunk }, 'rollback tool output'),
    });
  } catch (error) {
    record.attempts.push(`tool ${direction} could not start: ${errorMessage(error)}`);
  }
  const took = seconds(performance.now() - downgradeStarted);
  record.path = 'downgrade';
  if (reverseRun?.ok) {
    record.attempts.push(`tool ${direction} to ${before.revision ?? 'base'} succeeded (${took})`);
    record.differences = await compareWithSnapshot(target, state.migrator, { applicationName: state.names.inspect }, state.names.inspect, before, 'before the run');
    if (record.differences.length === 0) {
      record.verified = true;
      return finish(state, record, ExitCode.RolledBack, `rolled back by the tool to ${before.revision ?? 'base'}; revision and schema verified equal to before the run`);
    }
    record.attempts.push(`verification failed: ${record.differences.slice(0, 3).join('; ')}`);
  } else if (reverseRun) {
    await stopToolBackends(target, state.names.tool, state.names.inspect).catch(() => undefined);
    record.attempts.push(`tool ${direction} failed (${took}): ${failureSummary(reverseRun.stderr || reverseRun.stdout)}`);
  }
  logger.warn({ attempts: record.attempts }, 'the tool could not roll back to a verified state');

  record.nextCommand = restoreCommand(state);
  if (!state.backup) {
    return finish(state, record, ExitCode.NeedsHuman, `rollback failed and there is no backup (--skip-backup): ${record.attempts.join('; ')}`);
  }

  const dataLossWindow = await withClient(target, state.names.inspect, async (client) => withoutToolTables(activityDelta(before.activity, await tableActivity(client)), context.settings.migrator));
  record.dataLossWindow = dataLossWindow;
  // "At least": sessions publish their write counters up to ~10 s late (docs/validation.md).
  const lost = totalRows(dataLossWindow);
  state.recorder.detail('dataLossWindow', dataLossWindow);
  const decision = rollback.restore;
  if (decision === 'never') {
    return finish(state, record, ExitCode.NeedsHuman, `rollback by the tool failed; rollback.restore is "never": restore needs a human (at least ${lost} rows written since the backup would be lost)`);
  }
  if (decision === 'confirm') {
    const question = `The tool could not roll back. Restore ${target.database} from backup ${state.backup.id}? at least ${lost} rows written since the backup would be lost.`;
    if (!canPrompt() || !(await confirm(question))) {
      return finish(state, record, ExitCode.NeedsHuman, `rollback by the tool failed; restoring from the backup needs a human decision (at least ${lost} rows written since the backup would be lost)`);
    }
  }

  const lostBeforeRestore = await lockProblem(state);
  if (lostBeforeRestore) return finish(state, record, ExitCode.NeedsHuman, `not restoring from the backup: ${lostBeforeRestore}`);
  record.path = 'restore';
  record.keptFailedDatabase = keptFailedDatabase;
  const copy = overlapped ?? startRestoreCopy(state, state.backup.id, keptFailedDatabase, false);
  record.restoreCopy = copy.record;
  let verifiedCopy: SchemaFingerprint | undefined;
  try {
    await copy.swapIn(target, {
      beforeSwap: async (restored) => {
        const fingerprint = await withClient(restored, state.names.inspect, (client) => schemaFingerprint(client));
        const differences = restoreDifferences(state, before.fingerprint, fingerprint);
        if (differences.length > 0) throw new Error(`the restored copy differs from before the run: ${differences.slice(0, 3).join('; ')}`);
        verifiedCopy = fingerprint;
        // Held through the restore (it no longer lets go before it): still ours, or no swap.
        const lockLostMeanwhile = await lockProblem(state);
        if (lockLostMeanwhile) throw new Error(`not swapping in the restored copy: ${lockLostMeanwhile}`);
        // Our lock session is on the database being replaced; the swap ends it.
        await state.lock?.release();
        state.lock = undefined;
      },
    });
    const alongside = copy.record.overlapped && copy.record.readyAfterMs !== undefined ? ` (restored alongside the downgrade, ready ${seconds(copy.record.readyAfterMs)} after it started)` : '';
    record.attempts.push(`restored from backup ${state.backup.id}${alongside}; the failed database is kept as ${record.keptFailedDatabase}`);
  } catch (error) {
    record.attempts.push(`restore from backup failed: ${errorMessage(error)}`);
    return finish(state, record, ExitCode.NeedsHuman, `rollback by the tool failed and the restore from backup failed: ${errorMessage(error)}`);
  }
  // The database now in place is the copy verified before the swap, renamed: it must read exactly the same.
  const expected = { revision: before.revision, fingerprint: verifiedCopy ?? before.fingerprint };
  record.differences = await compareWithSnapshot(target, state.migrator, { applicationName: state.names.inspect }, state.names.inspect, expected, 'before the swap');
  if (record.differences.length > 0) {
    return finish(state, record, ExitCode.NeedsHuman, `restored from the backup but it does not verify: ${record.differences.slice(0, 3).join('; ')}`);
  }
  record.verified = true;
  return finish(state, record, ExitCode.RolledBack, `restored from backup ${state.backup.id}; revision and schema verified equal to before the run (at least ${lost} rows written since the backup were lost)`);
}

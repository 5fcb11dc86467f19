import { dropDatabase } from '../backup/databases.js';
import { withClient } from '../db/client.js';
import { boundedName } from '../db/names.js';
import { relationFileNodes, rewrittenTables, startLockSampler } from '../db/locks.js';
import { parseDatabaseUrl, withDatabase, type DbTarget } from '../db/target.js';
import { ExitCode, ToolError } from '../errors.js';
import { failureSummary } from '../exec/process.js';
import { countTableRows, destroyedBetween, readTableShapes } from '../lint/rehearsed.js';
import { bookkeepingTables } from '../lint/render.js';
import { validateDatabase } from '../validation/checks.js';
import { tableRowEstimates } from '../validation/data.js';
import { schemaFingerprint } from '../validation/fingerprint.js';
import { restoreNewBackup } from './backupReadBack.js';
import type { StepResult } from './runner.js';
import { toolRunRecord, type MigrationRunState } from './state.js';
import { lockFailureNote, runPipelineTool, type LockRetryResult } from './lockRetry.js';
import { stopToolBackends } from './toolStep.js';

/** `<db>_<purpose>_<run id>`: the run id makes it unique and tells which run left it behind. */
export function scratchDatabaseName(database: string, runId: string, purpose: string): string {
  return boundedName(database, `_${purpose}_${runId}`);
}

/** Where the scratch copy lives: the target's own server by default, or rehearsal.scratchUrl's. */
function scratchTargets(state: MigrationRunState, purpose: string): { db: DbTarget; admin: DbTarget } {
  const scratchUrl = state.context.settings.rehearsal.scratchUrl;
  const admin = scratchUrl ? parseDatabaseUrl(scratchUrl) : state.target;
  return { db: withDatabase(admin, scratchDatabaseName(state.target.database, state.context.runId, purpose)), admin };
}

export async function dropScratch(state: MigrationRunState): Promise<void> {
  const scratch = state.scratch;
  if (!scratch) return;
  await withClient(scratch.admin, state.names.inspect, (client) => dropDatabase(client, scratch.db.database));
  state.context.logger.info({ database: scratch.db.database }, 'scratch database dropped');
  state.scratch = undefined;
}

class RehearsalError extends ToolError {
  constructor(message: string, stderr = '') {
    super(message, stderr, ExitCode.RehearsalFailed);
  }
}

/**
 * Restores the pre-migration backup into a scratch database (which also proves the backup restores),
 * runs the same migration there with the same limits while sampling the locks it takes, and validates
 * the result. Production is not touched.
 */
export async function rehearse(state: MigrationRunState): Promise<StepResult> {
  const { context, plan, backup } = state;
  if (!plan || !backup) throw new Error('rehearsal needs a plan and a backup');
  const { settings } = context;
  state.scratch = scratchTargets(state, 'rehearsal');
  const scratch = state.scratch.db;
  let restoreMs: number;
  try {
    ({ durationMs: restoreMs } = await restoreNewBackup(state, backup, scratch));
  } catch (error) {
    throw new RehearsalError(`restoring the backup into the scratch database failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  // The copy as pg_restore left it: validation compares production's change with the change from
  // here (pg_restore re-renders some untouched expressions), and what the migration destroys is read
  // from this catalog and these row counts.
  const bookkeeping = bookkeepingTables(settings);
  const restored = await withClient(scratch, state.names.inspect, async (client) => {
    const tables = await readTableShapes(client, bookkeeping);
    return { nodes: await relationFileNodes(client), fingerprint: await schemaFingerprint(client), tables, rows: await countTableRows(client, tables, settings.safety.exactCountLimit) };
  });
  const sampler = startLockSampler(scratch, state.names.rehearsal);
  let retried: LockRetryResult;
  let locks: Awaited<ReturnType<typeof sampler.stop>> = [];
  try {
    // Sampling must be running before the tool starts, or its first (often strongest) locks are missed.
    await sampler.ready;
    retried = await runPipelineTool(state, {
      db: scratch,
      applicationName: state.names.rehearsal,
      before: { revision: plan.from, fingerprint: restored.fingerprint },
      label: 'rehearsal',
      onOutput: (chunk) => context.logger.debug({ output: chunk }, 'rehearsal tool output'),
    });
  } finally {
    // A failed sampler costs the lock trace, not the rehearsal: the migration itself is what is judged.
    locks = await sampler.stop().catch((error: unknown) => {
      state.warnings.push(`the lock trace of the rehearsal is incomplete: ${error instanceof Error ? error.message : String(error)}`);
      return [];
    });
  }
  const { run } = retried;
  const record = toolRunRecord(run);
  if (!run.ok) {
    await stopToolBackends(scratch, state.names.rehearsal, state.names.inspect).catch(() => undefined);
    state.recorder.detail('rehearsalTool', record);
    const why = run.timedOut ? `timed out after ${settings.pipeline.timeoutSeconds} s` : run.cancelled ? 'was interrupted' : `failed: ${failureSummary(run.stderr || run.stdout)}${lockFailureNote(retried, state.preflightChecks)}`;
    throw new RehearsalError(`the migration ${why} on the scratch copy`, run.stderr);
  }

  const { current } = await state.migrator.state(scratch, { applicationName: state.names.inspect });
  if (current !== plan.to) throw new RehearsalError(`after the rehearsal the scratch copy is at ${current ?? 'base'}, not ${plan.to ?? 'base'}`);

  const inspected = await withClient(scratch, state.names.inspect, async (client) => ({
    nodesAfter: await relationFileNodes(client),
    validation: await validateDatabase(client, settings.validation),
    fingerprintAfter: await schemaFingerprint(client),
    rowEstimates: await tableRowEstimates(client),
    tables: await readTableShapes(client, bookkeeping),
  }));
  state.rehearsal = {
    database: scratch.database,
    restoreMs,
    migrateMs: run.durationMs,
    tool: record,
    locks,
    rewrittenTables: rewrittenTables(restored.nodes, inspected.nodesAfter),
    rowEstimates: inspected.rowEstimates,
    validation: inspected.validation,
    fingerprintBefore: restored.fingerprint,
    fingerprintAfter: inspected.fingerprintAfter,
    destroyed: destroyedBetween(restored.tables, inspected.tables, restored.rows),
  };
  state.recorder.detail('rehearsal', { ...state.rehearsal, fingerprintBefore: restored.fingerprint.hash, fingerprintAfter: inspected.fingerprintAfter.hash });
  const failed = inspected.validation.filter((check) => check.status === 'fail');
  if (failed.length > 0) throw new RehearsalError(`validation of the rehearsed copy failed: ${failed.map((check) => `${check.name}: ${check.detail}`).join('; ')}`);
  return {
    detail: `restored in ${restoreMs} ms, migrated in ${run.durationMs} ms, ${locks.length} tables seen locked (pg_locks sampled every 25 ms), ${state.rehearsal.rewrittenTables.length} rewritten, ${state.rehearsal.destroyed.length} destructive changes`,
  };
}

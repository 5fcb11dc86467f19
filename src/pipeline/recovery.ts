import { z } from 'zod';
import type pg from 'pg';
import type { Settings } from '../config/settings.js';
import type { RunContext } from '../context.js';
import { withMaintenance } from '../backup/catalog.js';
import { dropDatabase } from '../backup/databases.js';
import { withClient } from '../db/client.js';
import { stopBackends, type StopResult } from '../db/sessions.js';
import { parseDatabaseUrl, type DbTarget } from '../db/target.js';
import { ExitCode, OrchestrateError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Migrator } from '../migrators/types.js';
import { schemaFingerprint } from '../validation/fingerprint.js';
import { isOwnerAlive, readJournals, writeJournal, type RunJournal } from './journal.js';
import { scratchDatabaseName } from './rehearsal.js';
import { restoreCopyName } from './restoreCopy.js';
import { acquireRunLock, type RunLock } from './runLock.js';
import { takeRunLock } from './runLockEvents.js';
import type { MigrationRunState } from './state.js';

/**
 * Finds runs that died without finishing (orchestrate killed, the machine lost), cleans up after
 * them and says what state production is in, before a new run does anything. Their tool processes
 * died with them (src/exec/supervisor.ts); what can remain is server-side: backends still running a
 * statement, scratch databases, and a journal that still says "running".
 */

/**
 * Scratch databases a journaled run creates under its own run id. `failed` (the database a restore
 * replaced) is evidence and is kept; `test` belongs to `orchestrate test`, which keeps no journal;
 * `restore` (a rollback's copy, restoreCopy.ts) lives on the target's server and is dropped there.
 */
// The rehearsal's copy, and the throwaway database of the tool-target proof (targetProof.ts).
const SCRATCH_PURPOSES = ['rehearsal', 'proof'] as const;

/** The steps after which production may have been changed: until `migrate` starts, a run only reads it. */
const CHANGING_STEPS = ['migrate'];

/** What a killed run left production as. */
export type ProductionVerdict =
  /** It died before it could change production. */
  | 'untouched'
  /** Revision and schema fingerprint equal to its "before" snapshot. */
  | 'as-before'
  /** Not as before (half-done, or done but never validated): a human decides. */
  | 'changed'
  /** Production could not be read (a restore may have renamed it aside): a human decides. */
  | 'unreadable';

export interface CrashRecovery {
  readonly runId: string;
  readonly command: string;
  readonly startedAt: string;
  /** The step that was running when it died. */
  readonly diedIn: string | null;
  readonly foundBy: string;
  readonly foundAt: string;
  readonly stoppedBackends: { readonly cancelled: readonly number[]; readonly terminated: readonly number[] };
  readonly droppedDatabases: readonly string[];
  readonly verdict: ProductionVerdict;
  readonly revision?: string | null;
  readonly fingerprint?: string;
  readonly before?: { readonly revision: string | null; readonly fingerprint: string };
  /** Where it was going: the plan's target revision. */
  readonly target?: string | null;
  readonly backupId?: string;
  readonly problem?: string;
  /** The run that refused to go on over this crash and told a person; absent until one did. */
  acknowledgedBy?: string;
}

const beforeSchema = z.object({ revision: z.string().nullable(), fingerprint: z.string() });
const planSchema = z.object({ to: z.string().nullable() });
const recoverySchema = z.looseObject({ verdict: z.enum(['untouched', 'as-before', 'changed', 'unreadable']), acknowledgedBy: z.string().optional() });

export interface RecoveryScope {
  readonly reportDir: string;
  /** The database whose runs are recovered. */
  readonly target: DbTarget;
  /** Where the scratch copies live: rehearsal.scratchUrl's server, else the target's. */
  readonly scratchAdmin: DbTarget;
  readonly migrator: Migrator;
  /** Our own run: never recovered; undefined for the daemon. */
  readonly runId: string | undefined;
  /** Who is recovering, for the journal ("daemon", or a run id). */
  readonly foundBy: string;
  /** application_name of the sessions recovery opens. */
  readonly inspectName: string;
  readonly logger: Logger;
}

/** Journals of this database that still say "running", ours excepted. Reads files only: cheap enough for every run. */
export function unfinishedRuns(scope: Pick<RecoveryScope, 'reportDir' | 'target' | 'runId'>): RunJournal[] {
  return readJournals(scope.reportDir).filter((journal) => journal.status === 'running' && journal.runId !== scope.runId && journal.details.database === scope.target.database);
}

/** Crashed runs of this database that left production changed and that no run has yet reported to a person. */
export function unacknowledgedCrashes(scope: Pick<RecoveryScope, 'reportDir' | 'target'>): RunJournal[] {
  return readJournals(scope.reportDir).filter((journal) => {
    if (journal.status !== 'crashed' || journal.details.database !== scope.target.database) return false;
    const recovery = recoverySchema.safeParse(journal.details.recovery);
    return recovery.success && (recovery.data.verdict === 'changed' || recovery.data.verdict === 'unreadable') && recovery.data.acknowledgedBy === undefined;
  });
}

/** Marks the crash as told to a person by run `runId`: later runs go on. */
export function acknowledgeCrash(reportDir: string, journal: RunJournal, runId: string): void {
  const recovery = journal.details.recovery as CrashRecovery;
  journal.details.recovery = { ...recovery, acknowledgedBy: runId };
  writeJournal(reportDir, journal);
}

async function productionState(scope: RecoveryScope, journal: RunJournal): Promise<Pick<CrashRecovery, 'verdict' | 'revision' | 'fingerprint' | 'before' | 'problem'>> {
  const before = beforeSchema.safeParse(journal.details.before);
  // A restore keeps no steps: assume it may have swapped the database.
  const changing = journal.command === 'restore' || journal.steps.some((step) => CHANGING_STEPS.some((name) => step.name === name || step.name === `undo ${name}`) && step.status !== 'pending' && step.status !== 'skipped');
  try {
    const { current } = await scope.migrator.state(scope.target, { applicationName: scope.inspectName });
    const fingerprint = (await withClient(scope.target, scope.inspectName, (client) => schemaFingerprint(client))).hash;
    const now = { revision: current, fingerprint };
    if (!before.success) return { verdict: changing ? 'changed' : 'untouched', ...now, ...(changing ? { problem: 'it changed production without a "before" snapshot to compare with' } : {}) };
    const equal = before.data.revision === current && before.data.fingerprint === fingerprint;
    if (equal) return { verdict: 'as-before', ...now, before: before.data };
    return { verdict: changing ? 'changed' : 'untouched', ...now, before: before.data };
  } catch (error) {
    return { verdict: 'unreadable', ...(before.success ? { before: before.data } : {}), problem: errorMessage(error) };
  }
}

/** The run's sessions are `<name>` (the tool) and `<name>/rehearsal`, `/lock`, `/inspect`: both forms. */
async function stopRunBackends(client: pg.Client, applicationName: string): Promise<StopResult> {
  const exact = await stopBackends(client, applicationName);
  const tagged = await stopBackends(client, `${applicationName}/%`);
  return { cancelled: [...exact.cancelled, ...tagged.cancelled], terminated: [...exact.terminated, ...tagged.terminated] };
}

async function recoverOne(scope: RecoveryScope, journal: RunJournal): Promise<CrashRecovery> {
  // Through the maintenance database: a run killed mid-restore may have renamed the target aside.
  const servers = scope.scratchAdmin === scope.target ? [scope.target] : [scope.scratchAdmin, scope.target];
  const stopped: StopResult = { cancelled: [], terminated: [] };
  for (const server of servers) {
    const result = await withMaintenance(server, scope.inspectName, (client) => stopRunBackends(client, journal.applicationName));
    stopped.cancelled.push(...result.cancelled);
    stopped.terminated.push(...result.terminated);
  }
  const droppedDatabases: string[] = [];
  const dropLeftovers = (server: DbTarget, names: readonly string[]) =>
    withMaintenance(server, scope.inspectName, async (client) => {
      for (const name of names) {
        const exists = await client.query('SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1', [name]);
        if (exists.rowCount === 0) continue;
        await dropDatabase(client, name);
        droppedDatabases.push(name);
      }
    });
  await dropLeftovers(scope.scratchAdmin, SCRATCH_PURPOSES.map((purpose) => scratchDatabaseName(scope.target.database, journal.runId, purpose)));
  // A rollback's restore copy, never swapped in (the swap renames it in the same transaction as production).
  await dropLeftovers(scope.target, [restoreCopyName(scope.target.database, journal.runId)]);
  const plan = planSchema.safeParse(journal.details.plan);
  const recovery: CrashRecovery = {
    runId: journal.runId,
    command: journal.command,
    startedAt: journal.startedAt,
    diedIn: journal.steps.find((step) => step.status === 'running')?.name ?? null,
    foundBy: scope.foundBy,
    foundAt: new Date().toISOString(),
    stoppedBackends: stopped,
    droppedDatabases,
    ...(plan.success ? { target: plan.data.to } : {}),
    ...(journal.backupId ? { backupId: journal.backupId } : {}),
    ...(await productionState(scope, journal)),
  };
  journal.status = 'crashed';
  journal.details.recovery = recovery;
  writeJournal(scope.reportDir, journal);
  return recovery;
}

/**
 * Recovers every dead run of the database. The caller holds the run lock, so no live run of this
 * database is between steps that need it. Returns what was found, one entry per dead run.
 */
export async function recoverCrashedRuns(scope: RecoveryScope): Promise<CrashRecovery[]> {
  const recovered: CrashRecovery[] = [];
  for (const journal of unfinishedRuns(scope)) {
    // Its process is gone, or it ran on another machine (or before journals named their process):
    // then the run lock, which the caller holds, is what says it is not running.
    if (isOwnerAlive(journal)) {
      scope.logger.warn({ run: journal.runId }, `run ${journal.runId} still says running and its process is alive: left alone`);
      continue;
    }
    const recovery = await recoverOne(scope, journal);
    scope.logger.warn({ crashedRun: recovery.runId, verdict: recovery.verdict, stoppedBackends: recovery.stoppedBackends, droppedDatabases: recovery.droppedDatabases }, describeRecovery(recovery));
    recovered.push(recovery);
  }
  return recovered;
}

const revision = (value: string | null | undefined) => value ?? 'base';

/** One paragraph for a person: what died, what was cleaned up, and production's real state. */
export function describeRecovery(recovery: CrashRecovery): string {
  // A backend cancelled and then terminated is one backend.
  const stopped = new Set([...recovery.stoppedBackends.cancelled, ...recovery.stoppedBackends.terminated]).size;
  const cleaned = `stopped ${stopped} leftover backend${stopped === 1 ? '' : 's'}${recovery.droppedDatabases.length > 0 ? `, dropped ${recovery.droppedDatabases.join(', ')}` : ''}`;
  const died = `run ${recovery.runId} (${recovery.command}, started ${recovery.startedAt}) was killed${recovery.diedIn ? ` during ${recovery.diedIn}` : ''}; ${cleaned}`;
  const now = `production is at revision ${revision(recovery.revision)} (schema ${recovery.fingerprint?.slice(0, 12) ?? 'unknown'})`;
  const before = recovery.before ? `revision ${revision(recovery.before.revision)} (schema ${recovery.before.fingerprint.slice(0, 12)})` : undefined;
  switch (recovery.verdict) {
    case 'untouched':
      return `${died}; it had not changed production: ${now}`;
    case 'as-before':
      return `${died}; ${now}, verified equal to before that run`;
    case 'changed':
      return `${died}; ${now}, NOT as before that run${before ? ` (${before})` : ''}${recovery.target !== undefined ? `; it was going to ${revision(recovery.target)}` : ''}${recovery.problem ? `; ${recovery.problem}` : ''}`;
    case 'unreadable':
      return `${died}; production could not be read: ${recovery.problem ?? 'unknown error'}`;
  }
}

/** What a person should run after a crash that left production changed. */
export function nextCommandAfterCrash(recovery: CrashRecovery, database: string): string {
  const back = recovery.backupId ? `to return to before that run: orchestrate restore ${recovery.backupId} --into ${database} --allow-source --yes` : undefined;
  const forward = recovery.verdict === 'changed' && recovery.revision === recovery.target ? `to keep what it applied: orchestrate validate, then carry on` : `to see where it stands: orchestrate current and orchestrate validate`;
  return [back, forward, 'then run your command again (this crash is now recorded as reported)'].filter(Boolean).join('; ');
}

/** A crashed run left production changed: nothing was done, a person decides (exit 7). */
export class CrashedRunError extends OrchestrateError {
  constructor(message: string) {
    super(message, ExitCode.NeedsHuman);
  }
}

/** Where recovery looks and who it says did it: a run (its id) or the daemon. */
function scopeOf(options: { settings: Settings; target: DbTarget; migrator: Migrator; runId: string | undefined; applicationName: string; logger: Logger }): RecoveryScope {
  const scratchUrl = options.settings.rehearsal.scratchUrl;
  return {
    reportDir: options.settings.reportDir,
    target: options.target,
    scratchAdmin: scratchUrl ? parseDatabaseUrl(scratchUrl) : options.target,
    migrator: options.migrator,
    runId: options.runId,
    foundBy: options.runId ?? 'daemon',
    inspectName: `${options.applicationName}/inspect`,
    logger: options.logger,
  };
}

function recoveryScope(context: RunContext, target: DbTarget): RecoveryScope {
  return scopeOf({ settings: context.settings, target, migrator: context.migrator(), runId: context.runId, applicationName: context.applicationName, logger: context.logger });
}

/**
 * For commands that take the run lock outside the migration pipeline (backup, restore): once the
 * lock is held, recover dead runs of the database and log what production is. They do not refuse:
 * a backup or a restore is what a person runs to deal with the state a crash left.
 */
export async function recoverUnderLock(context: RunContext, target: DbTarget): Promise<CrashRecovery[]> {
  const scope = recoveryScope(context, target);
  if (!unfinishedRuns(scope).some((journal) => !isOwnerAlive(journal))) return [];
  return recoverCrashedRuns(scope);
}

/**
 * The daemon at start: recovers dead runs of its database if the run lock is free (if a run holds
 * it, that run recovers them). Never stops the daemon from starting: a failure is logged.
 */
export async function recoverAtDaemonStart(options: { settings: Settings; target: DbTarget; migrator: Migrator; applicationName: string; logger: Logger }): Promise<CrashRecovery[]> {
  const { target, logger } = options;
  const scope = scopeOf({ ...options, runId: undefined });
  if (!unfinishedRuns(scope).some((journal) => !isOwnerAlive(journal))) return [];
  let lock: RunLock;
  try {
    lock = await acquireRunLock(target, `${options.applicationName}/lock`, 0);
  } catch (error) {
    logger.warn({ error: errorMessage(error) }, 'unfinished runs found at start; not recovered now: the run lock is held or the database unreachable');
    return [];
  }
  try {
    return await recoverCrashedRuns(scope);
  } catch (error) {
    logger.error({ error: errorMessage(error) }, 'recovering the unfinished runs failed');
    return [];
  } finally {
    await lock.release();
  }
}

/**
 * What a dry run says instead of recovering (it writes nothing): runs that died and have not been
 * recovered, and crashes not yet reported. The real run will stop on these first.
 */
export function pendingRecoveryWarnings(context: RunContext, target: DbTarget): string[] {
  const scope = { reportDir: context.settings.reportDir, target, runId: context.runId };
  const dead = unfinishedRuns(scope)
    .filter((journal) => !isOwnerAlive(journal))
    .map((journal) => `run ${journal.runId} (${journal.command}, started ${journal.startedAt}) died without finishing: the real run recovers it first and reports production's state`);
  const unreported = unacknowledgedCrashes(scope).map((journal) => `run ${journal.runId} (${journal.command}) crashed and left production changed: the real run stops with exit 7 to report it`);
  return [...dead, ...unreported];
}

/**
 * The first thing a migration run does, before it plans anything: if a run of this database died
 * mid-way, take the run lock (kept for the rest of the run), clean up after it, and tell the
 * operator production's real state (logged as found; returned for the report). If a crashed run
 * left production changed and nobody has been told yet, stop here with exit 7: never "nothing to
 * do" over a half-done run.
 */
export async function recoverBeforeRun(state: MigrationRunState): Promise<string[]> {
  const { context, target } = state;
  const scope = recoveryScope(context, target);
  // A run still alive on this machine is just running: no reason to take the lock ahead of it.
  const suspects = unfinishedRuns(scope).filter((journal) => !isOwnerAlive(journal));
  if (suspects.length === 0 && unacknowledgedCrashes(scope).length === 0) return [];
  state.lock ??= await takeRunLock(state);
  const recovered = await recoverCrashedRuns(scope);
  state.recorder.detail('recoveredRuns', recovered);

  const halfDone = unacknowledgedCrashes(scope);
  if (halfDone.length === 0) return recovered.map(describeRecovery);
  const recoveries = halfDone.map((journal) => journal.details.recovery as CrashRecovery);
  for (const journal of halfDone) acknowledgeCrash(scope.reportDir, journal, context.runId);
  const first = recoveries[0] as CrashRecovery;
  // The next commands go in the message: the pipeline's summary line carries the message, not a hint.
  throw new CrashedRunError(`nothing was done: ${recoveries.map((recovery) => describeRecovery(recovery)).join('. ')}. Next: ${nextCommandAfterCrash(first, target.database)}`);
}

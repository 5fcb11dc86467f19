import { withClient } from '../db/client.js';
import { describeTarget, withDatabase, type DbTarget } from '../db/target.js';
import { RefusedError, ToolError, UsageError, errorMessage } from '../errors.js';
import { parseToolVersion, pgProgram, toolVersion } from '../exec/pgDump.js';
import { pgRestoreList, runPgRestore } from '../exec/pgRestore.js';
import { priorityProblems, type ProcessPriority } from '../exec/priority.js';
import { databaseExists, tableEstimates, withMaintenance } from './catalog.js';
import { assertDatabaseName, createDatabaseSql, dropDatabase, siblingName } from './databases.js';
import { startProgress } from './progress.js';
import { swapDatabases } from './swap.js';
import { readManifest, recordVerification } from './store.js';
import { toolFailure } from './toolFailure.js';
import type { BackupContext, BackupManifest } from './types.js';
import { withReadableArchive } from './unpack.js';
import { checksumProblems } from './verify.js';

export interface RestoreOptions {
  readonly signal?: AbortSignal;
  /** pg_restore at a lower CPU and I/O priority (the rehearsal's copy, backup.niceness); default unchanged. */
  readonly priority?: ProcessPriority;
}

export interface ReplaceOptions extends RestoreOptions {
  /** The caller's check of the restored copy; throwing aborts, drops the copy and leaves the target untouched. */
  readonly beforeSwap?: (restored: DbTarget) => Promise<void>;
  /** Keep the replaced database under this name instead of dropping it. */
  readonly keepReplacedAs?: string;
  /** The restored copy's name beside the target (must not exist); default `<db>_restoring_<hex>`. */
  readonly restoredName?: string;
}

/** Refuses a damaged archive, or one a too-old pg_restore cannot read, before any database is created. */
export async function assertBackupRestorable(ctx: BackupContext, id: string): Promise<BackupManifest> {
  return (await checkedManifest(ctx, id)).manifest;
}

async function checkedManifest(ctx: BackupContext, id: string): Promise<{ manifest: BackupManifest; program: string }> {
  const backupDir = ctx.settings.backupDir;
  const manifest = await readManifest(backupDir, id);
  const problems = await checksumProblems(backupDir, manifest);
  if (problems.length > 0) {
    recordVerification(backupDir, manifest, { checkedAt: new Date().toISOString(), ok: false, method: 'verify', problems });
    throw new RefusedError(`backup ${manifest.id} is damaged, nothing was restored: ${problems.join('; ')}`);
  }
  const program = pgProgram(ctx.settings.tools.pgBinDir, 'pg_restore');
  const pgRestore = await toolVersion(program);
  const writer = parseToolVersion(`(PostgreSQL) ${manifest.pgDumpVersion}`);
  if (writer && pgRestore.major < writer.major) {
    throw new RefusedError(`pg_restore ${pgRestore.version} is older than the pg_dump ${manifest.pgDumpVersion} that wrote backup ${manifest.id}`, {
      hint: 'install a newer pg_restore or point tools.pgBinDir at it',
    });
  }
  return { manifest, program };
}

const RESTORE_ACTION = /^pg_restore: (creating |processing data for table |executing |restoring )/;
const FINISHED_ITEM = /^pg_restore: finished item /;

/**
 * Counts the TOC entries pg_restore --verbose reports as done. Serially each entry prints one action
 * line when it runs; inside the parallel loop an action line means started, so `finished item` counts.
 */
function actionCounter(onCount: (count: number) => void): (chunk: string) => void {
  let partial = '';
  let count = 0;
  let parallel = false;
  return (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('pg_restore: entering main parallel loop')) parallel = true;
      else if (line.startsWith('pg_restore: finished main parallel loop')) parallel = false;
      else if (parallel ? FINISHED_ITEM.test(line) : RESTORE_ACTION.test(line)) count += 1;
    }
    onCount(count);
  };
}

async function tocEntries(program: string, archive: string): Promise<number | undefined> {
  const run = await pgRestoreList(program, archive);
  if (!run.ok) return undefined;
  return run.stdout.split('\n').filter((line) => line.trim() !== '' && !line.startsWith(';')).length;
}

/** Creates `into` (which must not exist), restores the verified archive into it, and drops it on any failure. */
async function restoreChecked(ctx: BackupContext, manifest: BackupManifest, program: string, into: DbTarget, options: RestoreOptions): Promise<void> {
  const { settings, logger } = ctx;
  const where = describeTarget(into);
  assertDatabaseName(into.database, 'restore target');
  await withReadableArchive(settings.backupDir, manifest, async (archive) => {
    // Only for progress (an unknown total is fine): listed while the database is created, and always
    // awaited, so the listing never outlives a failed creation.
    const listing = tocEntries(program, archive).catch(() => undefined);
    await withMaintenance(into, ctx.applicationName, async (client) => {
      if (await databaseExists(client, into.database)) {
        throw new RefusedError(`database "${into.database}" already exists on ${into.host}:${into.port}: a restore only creates a new database`);
      }
      try {
        await client.query(createDatabaseSql(into.database, manifest.databaseSettings));
      } catch (error) {
        throw new RefusedError(`cannot create database "${into.database}": ${errorMessage(error)}`, { cause: error });
      }
    }).catch(async (error: unknown) => {
      await listing;
      throw error;
    });
    const total = await listing;
    for (const problem of options.priority ? priorityProblems(options.priority) : []) logger.warn({ event: 'restore.priority' }, problem);
    logger.info({ event: 'restore.started', id: manifest.id, into: where, items: total ?? null }, `restoring backup ${manifest.id} into ${where}`);
    try {
      const progress = startProgress({ logger, label: 'restore', unit: 'items', total, intervalMs: settings.backup.progressIntervalSeconds * 1000 });
      const run = await runPgRestore({
        program,
        target: into,
        applicationName: ctx.applicationName,
        archive,
        jobs: settings.backup.jobs,
        noOwner: settings.restore.noOwner,
        onStderr: actionCounter((count) => progress.update(count)),
        ...(options.priority ? { priority: options.priority } : {}),
        ...(options.signal ? { cancelSignal: options.signal } : {}),
      });
      if (total !== undefined && run.ok) progress.update(total);
      progress.finish();
      if (!run.ok) throw new ToolError(`pg_restore into ${where} failed; the half-restored database was dropped: ${toolFailure(run)}`, run.stderr);
    } catch (error) {
      await withMaintenance(into, ctx.applicationName, (client) => dropDatabase(client, into.database)).catch((dropError: unknown) => {
        logger.error({ event: 'restore.drop-failed', database: where, error: errorMessage(dropError) }, `could not drop the half-restored database ${where}: drop it by hand`);
      });
      throw error;
    }
  });
}

function recordRestored(ctx: BackupContext, manifest: BackupManifest): void {
  recordVerification(ctx.settings.backupDir, manifest, { checkedAt: new Date().toISOString(), ok: true, method: 'restore', problems: [] });
}

/** A `beforeSwap` check: every table the manifest lists exists in the restored copy. */
export function expectManifestTables(ctx: BackupContext, manifest: BackupManifest): (restored: DbTarget) => Promise<void> {
  return async (restored) => {
    const present = await withClient(restored, ctx.applicationName, async (client) => new Set((await tableEstimates(client)).map((t) => `${t.schema}.${t.name}`)));
    const missing = manifest.tables.map((t) => `${t.schema}.${t.name}`).filter((name) => !present.has(name));
    if (missing.length > 0) throw new RefusedError(`the restored copy lacks ${missing.length} table(s) of backup ${manifest.id}: ${missing.slice(0, 5).join(', ')}; nothing was replaced`);
  };
}

/**
 * Verifies the checksum, creates `into.database` (must not exist), restores with --no-owner --no-acl
 * (config) and parallel jobs, --exit-on-error; drops it on any failure. Never uses --create.
 */
export async function restoreIntoNewDatabase(ctx: BackupContext, id: string, into: DbTarget, options: RestoreOptions = {}): Promise<{ durationMs: number }> {
  const started = performance.now();
  const { manifest, program } = await checkedManifest(ctx, id);
  await restoreChecked(ctx, manifest, program, into, options);
  recordRestored(ctx, manifest);
  const durationMs = Math.round(performance.now() - started);
  ctx.logger.info({ event: 'restore.finished', id: manifest.id, into: describeTarget(into), durationMs }, `backup ${manifest.id} restored into ${describeTarget(into)}`);
  return { durationMs };
}

/** A copy restored next to the database it may replace, not yet swapped in. */
export interface PreparedReplacement {
  readonly manifest: BackupManifest;
  readonly restored: DbTarget;
  readonly startedAt: number;
}

/**
 * The first half of `replaceDatabase`, which changes nothing on the target: the checksum, then the
 * restore into a new database beside it (`restoredName`, else `<db>_restoring_<hex>`). The caller
 * then completes the replacement or discards the copy.
 */
export async function prepareReplacement(ctx: BackupContext, id: string, target: DbTarget, options: ReplaceOptions = {}): Promise<PreparedReplacement> {
  const startedAt = performance.now();
  const { manifest, program } = await checkedManifest(ctx, id);
  const keep = options.keepReplacedAs;
  if (keep !== undefined) {
    assertDatabaseName(keep, 'the name to keep the replaced database as');
    if (keep === target.database) throw new UsageError(`cannot keep the replaced database as "${keep}": that is its own name`);
  }
  await withMaintenance(target, ctx.applicationName, async (client) => {
    if (!(await databaseExists(client, target.database))) throw new RefusedError(`database "${target.database}" does not exist: there is nothing to replace`);
    if (keep !== undefined && (await databaseExists(client, keep))) throw new RefusedError(`database "${keep}" already exists: choose another name to keep the replaced database`);
  });
  // Stopped during the checksum: no database is created only to be dropped.
  options.signal?.throwIfAborted();
  const restored = withDatabase(target, options.restoredName ?? siblingName(target.database, 'restoring'));
  await restoreChecked(ctx, manifest, program, restored, options);
  return { manifest, restored, startedAt };
}

/** Drops a copy (prepared, or half-prepared when its preparation failed) that will not be swapped in. */
export async function discardReplacement(ctx: BackupContext, restored: DbTarget): Promise<void> {
  await withMaintenance(restored, ctx.applicationName, (client) => dropDatabase(client, restored.database));
}

/**
 * The second half of `replaceDatabase`: awaits `beforeSwap(restored)`, then swaps the prepared copy in.
 * A failed check or a stop request before the swap drops the copy and leaves the target untouched.
 */
export async function completeReplacement(ctx: BackupContext, prepared: PreparedReplacement, target: DbTarget, options: ReplaceOptions = {}): Promise<{ durationMs: number }> {
  const { logger } = ctx;
  const { manifest, restored } = prepared;
  try {
    await options.beforeSwap?.(restored);
    // The last moment a stop request can leave the target untouched: the swap itself is one transaction.
    options.signal?.throwIfAborted();
  } catch (error) {
    await discardReplacement(ctx, restored).catch(() => logger.error({ database: restored.database }, `could not drop ${restored.database}: drop it by hand`));
    throw error;
  }

  await swapDatabases(ctx, target, restored.database, options.keepReplacedAs);
  recordRestored(ctx, manifest);
  const durationMs = Math.round(performance.now() - prepared.startedAt);
  logger.info({ event: 'restore.replaced', id: manifest.id, database: describeTarget(target), keptAs: options.keepReplacedAs ?? null, durationMs }, `database ${describeTarget(target)} replaced by backup ${manifest.id}`);
  return { durationMs };
}

/**
 * Replaces an existing database with the backup: checksum first, restore into a temporary database on
 * the same server, await `beforeSwap(restored)`, then end the target's sessions and swap by
 * ALTER DATABASE ... RENAME, both renames in one transaction. The replaced database is kept as
 * `keepReplacedAs`, else dropped. Every session on the target is terminated, the caller's own included.
 * `signal` stops pg_restore, or the swap if it comes before it; the copy is dropped, the target untouched.
 */
export async function replaceDatabase(ctx: BackupContext, id: string, target: DbTarget, options: ReplaceOptions = {}): Promise<{ durationMs: number }> {
  return completeReplacement(ctx, await prepareReplacement(ctx, id, target, options), target, options);
}

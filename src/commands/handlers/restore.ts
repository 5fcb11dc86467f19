import {
  assertBackupRestorable,
  createBackup,
  expectManifestTables,
  replaceDatabase,
  restoreIntoNewDatabase,
  restoringIntoSource,
  revisionForBackup,
  rowsPerTable,
  verifyBackup,
  type BackupManifest,
  type TableRows,
} from '../../backup/index.js';
import { databaseExists, withMaintenance } from '../../backup/catalog.js';
import { assertDatabaseName } from '../../backup/databases.js';
import type { RunContext } from '../../context.js';
import { describeTarget, withDatabase, type DbTarget } from '../../db/target.js';
import { ExitCode, OrchestrateError, RefusedError, UsageError, errorMessage } from '../../errors.js';
import { journalOwner, writeJournal, type RunJournal, type RunStatus } from '../../pipeline/journal.js';
import { withInterruptHandler } from '../../pipeline/interrupt.js';
import { recoverUnderLock } from '../../pipeline/recovery.js';
import { restoreCopyName } from '../../pipeline/restoreCopy.js';
import { acquireRunLock, RunLockLostError, type RunLock } from '../../pipeline/runLock.js';
import { appendAudit } from '../../report/audit.js';
import { canPrompt, confirm } from '../../util/prompt.js';
import type { RestoreArgs } from '../restore.js';
import { runCommand, type CommandOutcome } from '../shared.js';

function rowsTable(rows: readonly TableRows[]): string {
  const width = Math.max(5, ...rows.map((row) => `${row.schema}.${row.name}`.length));
  return rows.map((row) => `  ${`${row.schema}.${row.name}`.padEnd(width)}  ${row.exact ? '' : '~'}${row.rows} rows`).join('\n');
}

const STATUS: Readonly<Record<number, RunStatus>> = { [ExitCode.Refused]: 'refused', [ExitCode.Locked]: 'locked' };

/**
 * A restore is recorded like a pipeline run: its journal names the pre-restore backup (so prune keeps
 * it while the restore has not succeeded) and the audit ledger gets one line.
 */
function recordRun(context: RunContext, into: DbTarget, manifest: BackupManifest) {
  const journal: RunJournal = {
    runId: context.runId,
    command: 'restore',
    status: 'running',
    startedAt: context.startedAt.toISOString(),
    applicationName: context.applicationName,
    steps: [],
    details: { ...journalOwner(), database: into.database, into: describeTarget(into), restoring: manifest.id },
  };
  const { reportDir } = context.settings;
  writeJournal(reportDir, journal);
  return {
    journal,
    save: () => writeJournal(reportDir, journal),
    finish(exitCode: number, outcome: string, extra: { backupId?: string; reason?: string } = {}) {
      const finishedAt = new Date();
      journal.status = exitCode === ExitCode.Success ? 'succeeded' : (STATUS[exitCode] ?? 'failed');
      journal.exitCode = exitCode;
      journal.finishedAt = finishedAt.toISOString();
      writeJournal(reportDir, journal);
      appendAudit(reportDir, {
        runId: context.runId,
        command: 'restore',
        outcome,
        exitCode,
        startedAt: journal.startedAt,
        finishedAt: journal.finishedAt,
        durationMs: finishedAt.getTime() - context.startedAt.getTime(),
        env: context.settings.env,
        database: into.database,
        user: into.user,
        host: `${into.host}:${into.port}`,
        ...extra,
      });
    },
  };
}

async function confirmReplacement(context: RunContext, manifest: BackupManifest, into: DbTarget, rows: readonly TableRows[], signal: AbortSignal): Promise<void> {
  const total = rows.reduce((sum, row) => sum + row.rows, 0);
  const summary = `restoring backup ${manifest.id} (${manifest.database}, ${manifest.createdAt}) over ${describeTarget(into)} replaces ${total} rows in ${rows.length} tables`;
  if (context.settings.yes) return;
  if (!canPrompt()) throw new RefusedError(`${summary}: pass --yes to confirm (no terminal to ask)`);
  process.stderr.write(`Rows that will be replaced in ${describeTarget(into)}:\n${rowsTable(rows) || '  (no tables)'}\n`);
  if (!(await confirm(`Replace ${into.database} with backup ${manifest.id}?`, signal))) throw new RefusedError('restore not confirmed; nothing was changed');
}

async function restoreOver(context: RunContext, manifest: BackupManifest, into: DbTarget, args: RestoreArgs, run: ReturnType<typeof recordRun>, stop: AbortController): Promise<CommandOutcome> {
  // A lost lock stops the restore like a signal, before the swap: another run may be migrating the target.
  const lock: RunLock = await acquireRunLock(into, `${context.applicationName}/lock`, context.settings.pipeline.lockWaitSeconds, {
    onLost: (reason) => {
      context.logger.error({ event: 'lock.lost', reason }, `the migration lock on ${into.database} was lost: ${reason}; stopping the restore`);
      stop.abort(new RunLockLostError(`the migration lock on database "${into.database}" was lost (${reason}); the restore was stopped before the swap`));
    },
  });
  let released = false;
  const release = async () => {
    if (!released) await lock.release();
    released = true;
  };
  try {
    await recoverUnderLock(context, into);
    const rows = await rowsPerTable(into, context.applicationName);
    await confirmReplacement(context, manifest, into, rows, stop.signal);
    const revision = await revisionForBackup(() => context.migrator(), into, context.toolSession(), context.logger);
    const before = await createBackup(context, into, { reason: 'pre-restore', revision, signal: stop.signal });
    run.journal.backupId = before.id;
    run.save();
    const check = await verifyBackup(context, before.id);
    if (!check.ok) throw new RefusedError(`the pre-restore backup ${before.id} did not verify, nothing was replaced: ${check.problems.join('; ')}`);
    stop.signal.throwIfAborted();
    const checkTables = expectManifestTables(context, manifest);
    const { durationMs } = await replaceDatabase(context, manifest.id, into, {
      ...(args.keepReplacedAs !== undefined ? { keepReplacedAs: args.keepReplacedAs } : {}),
      // Named after this run, as a rollback's copy is, so that crash recovery finds it if we are killed.
      restoredName: restoreCopyName(into.database, context.runId),
      signal: stop.signal,
      beforeSwap: async (restored) => {
        await checkTables(restored);
        // Proven held up to here; its session is on the database being replaced, which the swap ends.
        await lock.assertHeld();
        await release();
      },
    });
    const kept = args.keepReplacedAs ? `; the replaced database is kept as ${args.keepReplacedAs}` : '';
    return {
      exitCode: ExitCode.Success,
      json: { ok: true, backup: manifest.id, into: describeTarget(into), replaced: true, preRestoreBackup: before.id, keptAs: args.keepReplacedAs ?? null, rowsReplaced: rows, durationMs },
      text: `replaced ${describeTarget(into)} with backup ${manifest.id} in ${(durationMs / 1000).toFixed(1)}s (pre-restore backup ${before.id}${kept})\nrows replaced:\n${rowsTable(rows) || '  (no tables)'}`,
    };
  } finally {
    await release();
  }
}

async function restore(context: RunContext, args: RestoreArgs): Promise<CommandOutcome> {
  const target = context.target();
  if (args.into !== undefined) assertDatabaseName(args.into, '--into');
  if (args.keepReplacedAs !== undefined) assertDatabaseName(args.keepReplacedAs, '--keep-replaced-as');
  const into = withDatabase(target, args.into ?? target.database);
  const manifest = await assertBackupRestorable(context, args.id);
  if (!args.allowSource && (await restoringIntoSource(context, manifest, into))) {
    throw new RefusedError(`backup ${manifest.id} was taken from database "${into.database}" on this server: restoring it there would overwrite its source`, {
      hint: 'pass --allow-source if that is what you mean, or --into another database',
    });
  }
  const exists = await withMaintenance(into, context.applicationName, (client) => databaseExists(client, into.database));
  if (!exists && args.keepReplacedAs !== undefined) throw new UsageError(`--keep-replaced-as applies only when replacing an existing database ("${into.database}" does not exist)`);

  const run = recordRun(context, into, manifest);
  const stop = new AbortController();
  return withInterruptHandler(stop, context.logger, () => restoreStoppable(context, manifest, into, args, exists, run, stop), 'stopping pg_restore, then dropping the half-restored copy');
}

async function restoreStoppable(context: RunContext, manifest: BackupManifest, into: DbTarget, args: RestoreArgs, exists: boolean, run: ReturnType<typeof recordRun>, stop: AbortController): Promise<CommandOutcome> {
  try {
    let outcome: CommandOutcome;
    if (exists) {
      outcome = await restoreOver(context, manifest, into, args, run, stop);
    } else {
      const { durationMs } = await restoreIntoNewDatabase(context, manifest.id, into, { signal: stop.signal });
      outcome = {
        exitCode: ExitCode.Success,
        json: { ok: true, backup: manifest.id, into: describeTarget(into), replaced: false, preRestoreBackup: null, keptAs: null, rowsReplaced: [], durationMs },
        text: `restored backup ${manifest.id} into the new database ${describeTarget(into)} in ${(durationMs / 1000).toFixed(1)}s`,
      };
    }
    run.finish(outcome.exitCode, exists ? 'replaced' : 'restored', { ...(run.journal.backupId ? { backupId: run.journal.backupId } : {}), reason: `backup ${manifest.id}` });
    return outcome;
  } catch (failure) {
    const error = stop.signal.aborted ? stopped(stop.signal, into, exists, failure) : failure;
    const exitCode = error instanceof OrchestrateError ? error.exitCode : ExitCode.Internal;
    run.finish(exitCode, 'failed', { ...(run.journal.backupId ? { backupId: run.journal.backupId } : {}), reason: errorMessage(error) });
    throw error;
  }
}

/**
 * The error a stopped restore ends with: the lost lock's own (exit 4), or for SIGINT/SIGTERM exit 3,
 * as the pipeline's interrupt before production: pg_restore was stopped, the copy dropped, the
 * target untouched.
 */
function stopped(signal: AbortSignal, into: DbTarget, replacing: boolean, failure: unknown): OrchestrateError {
  if (signal.reason instanceof OrchestrateError) return signal.reason;
  const untouched = replacing ? `"${into.database}" is untouched` : `"${into.database}" was not created`;
  return new RefusedError(`restore ${errorMessage(signal.reason)}: stopped, the half-restored copy was dropped and ${untouched}`, { cause: failure });
}

export function restoreBackup(args: RestoreArgs): Promise<void> {
  return runCommand({ name: 'restore', args }, (context) => restore(context, args));
}

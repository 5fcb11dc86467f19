import { completeReplacement, discardReplacement, prepareReplacement, type BackupContext, type PreparedReplacement, type ReplaceOptions } from '../backup/index.js';
import { withDatabase, type DbTarget } from '../db/target.js';
import { errorMessage } from '../errors.js';
import { scratchDatabaseName } from './rehearsal.js';
import type { MigrationRunState, RestoreCopyRecord } from './state.js';

/**
 * The copy a rollback restores beside production: `<db>_restore_<run id>`, so crash recovery
 * (recovery.ts) finds and drops it after a run killed before the swap.
 */
export function restoreCopyName(database: string, runId: string): string {
  return scratchDatabaseName(database, runId, 'restore');
}

/** A rollback's restore of the backup into a new database beside production, started now and swapped in or dropped later. */
export interface RestoreCopy {
  readonly record: RestoreCopyRecord;
  /** Awaits the prepared copy, then checks it (`beforeSwap`) and swaps it in for production. */
  swapIn(target: DbTarget, options: Pick<ReplaceOptions, 'beforeSwap'>): Promise<void>;
  /** Unless it was swapped in: stops pg_restore, waits for it to end (bounded by its supervision) and drops the copy. */
  discard(): Promise<void>;
}

const elapsedMs = (since: number) => Math.round(performance.now() - since);

/**
 * Starts the checksum and the restore into the copy at once; nothing of production changes until
 * `swapIn`. Its sessions are `<run>/restore`: stopping the tool's backends (`<run>`) leaves them be,
 * and crash recovery stops them with the run's other tagged sessions.
 */
export function startRestoreCopy(state: MigrationRunState, backupId: string, keepReplacedAs: string, overlapped: boolean): RestoreCopy {
  const { context, target } = state;
  const backupContext: BackupContext = { settings: context.settings, logger: context.logger, runId: context.runId, applicationName: `${state.names.tool}/restore` };
  const database = restoreCopyName(target.database, context.runId);
  const record: RestoreCopyRecord = { database, overlapped };
  const stop = new AbortController();
  const startedAt = performance.now();
  // Settled into a value at once: a preparation that fails while the downgrade runs is no unhandled rejection.
  const preparation: Promise<{ prepared: PreparedReplacement } | { error: unknown }> = prepareReplacement(backupContext, backupId, target, { restoredName: database, keepReplacedAs, signal: stop.signal }).then(
    (prepared) => {
      record.readyAfterMs = elapsedMs(startedAt);
      return { prepared };
    },
    (error: unknown) => {
      record.readyAfterMs = elapsedMs(startedAt);
      return { error };
    },
  );
  let used = false;
  return {
    record,
    async swapIn(into, options) {
      used = true;
      const prepared = await preparation;
      if ('error' in prepared) {
        record.outcome = 'failed';
        record.problem = errorMessage(prepared.error);
        throw prepared.error;
      }
      try {
        await completeReplacement(backupContext, prepared.prepared, into, { ...options, keepReplacedAs });
        record.outcome = 'swapped';
      } catch (error) {
        record.outcome = 'failed';
        record.problem = errorMessage(error);
        throw error;
      }
    },
    async discard() {
      if (used) return;
      used = true;
      stop.abort(new Error('the rollback did not need the restore'));
      await preparation;
      // Dropped by name even after a failed preparation: DROP DATABASE IF EXISTS, and nothing else has that name.
      try {
        await discardReplacement(backupContext, withDatabase(target, database));
        record.outcome = 'dropped';
      } catch (error) {
        record.outcome = 'failed';
        record.problem = `could not drop ${database}: ${errorMessage(error)}`;
        context.logger.error({ database, error: errorMessage(error) }, `could not drop the unneeded restore copy ${database}: drop it by hand`);
      }
    },
  };
}

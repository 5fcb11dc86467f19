import type { Settings } from '../../config/settings.js';
import { pruneBackups } from '../../backup/index.js';
import type { DbTarget } from '../../db/target.js';
import { dropExpiredFailedDatabases, listFailedDatabases, type FailedDatabase } from '../failedDatabases.js';
import type { Job } from '../jobRunner.js';

/** The kept `<db>_failed_<run>` copies, as of the latest retention run, for /metrics. */
export interface FailedDatabasesObservation {
  readonly observedAt: Date;
  readonly count: number;
  readonly bytes: number;
  /** Older than rollback.keepFailedDays and still there: the drop failed. */
  readonly overdue: number;
}

function observe(observedAt: Date, databases: readonly FailedDatabase[]): FailedDatabasesObservation {
  return { observedAt, count: databases.length, bytes: databases.reduce((sum, database) => sum + database.bytes, 0), overdue: databases.filter((database) => database.expired).length };
}

/**
 * The `backups prune` logic on a schedule (the store decides what is protected), then the failed-run
 * databases older than rollback.keepFailedDays are dropped.
 */
export function retentionJob(settings: Settings, target: DbTarget, record: { deleted(count: number, bytes: number): void; failedDatabases(observation: FailedDatabasesObservation): void }): Job {
  return {
    name: 'retention',
    async run(context) {
      const result = await pruneBackups({ settings, logger: context.logger, runId: context.runId, applicationName: context.applicationName }, { dryRun: false, now: context.now });
      const bytes = result.deleted.reduce((sum, manifest) => sum + manifest.bytes, 0);
      record.deleted(result.deleted.length, bytes);
      for (const problem of result.problems) context.logger.warn({ problem }, 'backup store problem');
      context.signal.throwIfAborted();

      const failed = await listFailedDatabases(target, context.applicationName, settings.reportDir, settings.rollback.keepFailedDays, context.now);
      // Recorded before the drop: if it fails, /metrics shows the overdue copies.
      record.failedDatabases(observe(context.now, failed));
      const dropped = await dropExpiredFailedDatabases(target, context.applicationName, failed);
      for (const database of dropped) context.logger.info({ database: database.name, bytes: database.bytes, failedAt: database.failedAt?.toISOString() }, 'failed-run database dropped after rollback.keepFailedDays');
      record.failedDatabases(observe(context.now, failed.filter((database) => !dropped.includes(database))));
      return {
        summary: `${result.deleted.length} backup${result.deleted.length === 1 ? '' : 's'} deleted, ${result.kept.length} kept; ${dropped.length} failed-run database${dropped.length === 1 ? '' : 's'} dropped, ${failed.length - dropped.length} kept`,
        details: { deleted: result.deleted.map((manifest) => manifest.id), kept: result.kept.length, problems: result.problems.length, droppedDatabases: dropped.map((database) => database.name) },
      };
    },
  };
}

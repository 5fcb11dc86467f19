import type { Settings } from '../../config/settings.js';
import { createBackup, revisionForBackup, verifyBackup } from '../../backup/index.js';
import type { DbTarget } from '../../db/target.js';
import { LockedError, ToolError } from '../../errors.js';
import type { Migrator } from '../../migrators/types.js';
import { acquireRunLock } from '../../pipeline/runLock.js';
import type { Job } from '../jobRunner.js';

/**
 * A backup on a schedule (reason "scheduled"), read back whole when `verify` is set: a backup that
 * does not verify is a failed job. It holds the migration run lock while it dumps: pg_dump's
 * ACCESS SHARE locks would make a concurrent migration's DDL queue and time out half-way, so a
 * migration started meanwhile is told "locked" (exit 4) up front instead, and a tick that finds a
 * migration running skips its backup (that run takes its own).
 */
export function scheduledBackupJob(settings: Settings, migrator: Migrator, target: DbTarget): Job {
  return {
    name: 'backup',
    async run(context) {
      let lock;
      try {
        lock = await acquireRunLock(target, context.applicationName, 0);
      } catch (error) {
        if (!(error instanceof LockedError)) throw error;
        context.logger.warn({ reason: error.message }, 'scheduled backup skipped: a migration run holds the lock');
        return { summary: 'skipped: a migration run holds the lock', details: { skipped: true } };
      }
      try {
        const backupContext = { settings, logger: context.logger, runId: context.runId, applicationName: context.applicationName };
        const session = { applicationName: context.applicationName, cancelSignal: context.signal };
        const revision = await revisionForBackup(() => migrator, target, session, context.logger);
        const manifest = await createBackup(backupContext, target, { reason: 'scheduled', revision, signal: context.signal });
        const verify = settings.daemon.jobs.backup.verify;
        if (verify) {
          const verification = await verifyBackup(backupContext, manifest.id);
          if (!verification.ok) throw new ToolError(`scheduled backup ${manifest.id} failed verification: ${verification.problems.join('; ')}`, '');
        }
        return { summary: `backup ${manifest.id} taken (${manifest.bytes} bytes)${verify ? ', verified' : ''}`, details: { backupId: manifest.id, bytes: manifest.bytes } };
      } finally {
        await lock.release();
      }
    },
  };
}

import type { Settings } from '../../config/settings.js';
import { createBackup, revisionForBackup, verifyBackup } from '../../backup/index.js';
import type { DbTarget } from '../../db/target.js';
import { ToolError } from '../../errors.js';
import type { Migrator } from '../../migrators/types.js';
import type { Job } from '../jobRunner.js';

/** A backup on a schedule (reason "scheduled"), read back whole when `verify` is set: a backup that does not verify is a failed job. */
export function scheduledBackupJob(settings: Settings, migrator: Migrator, target: DbTarget): Job {
  return {
    name: 'backup',
    async run(context) {
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
    },
  };
}

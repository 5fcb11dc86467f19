import type { Settings } from '../../config/settings.js';
import { pruneBackups } from '../../backup/index.js';
import type { Job } from '../jobRunner.js';

/** The `backups prune` logic on a schedule; the store decides what is protected. */
export function retentionJob(settings: Settings, recordDeleted: (count: number, bytes: number) => void): Job {
  return {
    name: 'retention',
    async run(context) {
      const result = await pruneBackups({ settings, logger: context.logger, runId: context.runId, applicationName: context.applicationName }, { dryRun: false, now: context.now });
      const bytes = result.deleted.reduce((sum, manifest) => sum + manifest.bytes, 0);
      recordDeleted(result.deleted.length, bytes);
      for (const problem of result.problems) context.logger.warn({ problem }, 'backup store problem');
      return {
        summary: `${result.deleted.length} backup${result.deleted.length === 1 ? '' : 's'} deleted, ${result.kept.length} kept`,
        details: { deleted: result.deleted.map((manifest) => manifest.id), kept: result.kept.length, problems: result.problems.length },
      };
    },
  };
}

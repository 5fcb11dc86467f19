import type { DbTarget } from '../../db/target.js';
import { migrationStatus } from '../../migrators/status.js';
import type { Migrator } from '../../migrators/types.js';
import type { Job } from '../jobRunner.js';

export interface PendingObservation {
  readonly checkedAt: Date;
  readonly current: string | null;
  readonly head: string | null;
  readonly pending: readonly string[];
}

/** Asks the migration tool where the database stands and records whether it is behind. */
export function pendingCheckJob(migrator: Migrator, target: DbTarget, record: (observation: PendingObservation) => void): Job {
  return {
    name: 'pendingCheck',
    async run(context) {
      const status = await migrationStatus(migrator, target, { applicationName: context.applicationName, cancelSignal: context.signal });
      const pending = status.pending.map((entry) => entry.id);
      record({ checkedAt: context.now, current: status.current, head: status.head, pending });
      if (pending.length > 0) context.logger.warn({ current: status.current, head: status.head, pending: pending.length }, 'database is behind its migrations');
      return {
        summary: pending.length === 0 ? `up to date at ${status.current ?? 'base'}` : `${pending.length} pending: ${pending.join(', ')}`,
        details: { current: status.current, head: status.head, pending: pending.length },
      };
    },
  };
}

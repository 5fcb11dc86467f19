import type { DbTarget } from '../db/target.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Migrator, ToolSession } from '../migrators/types.js';

/**
 * The migration revision to record in a manifest. A backup is worth more than its label: when the
 * migration tool cannot answer (no project here, tool missing) the backup proceeds with null.
 */
export async function revisionForBackup(migrator: () => Migrator, target: DbTarget, session: ToolSession, logger: Logger): Promise<string | null> {
  try {
    return (await migrator().state(target, session)).current;
  } catch (error) {
    logger.warn({ event: 'backup.revision-unknown', error: errorMessage(error) }, `migration revision unknown, recorded as null: ${errorMessage(error)}`);
    return null;
  }
}

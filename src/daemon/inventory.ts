import { listBackups } from '../backup/index.js';
import type { Logger } from '../log/logger.js';
import type { BackupInventory } from './metrics.js';

/** Counts and ages of the backups in the store, for /metrics. */
export async function backupInventory(backupDir: string, logger: Logger): Promise<BackupInventory> {
  const { manifests, problems } = await listBackups(backupDir);
  for (const problem of problems) logger.debug({ problem }, 'backup store problem');
  let newestAt: Date | undefined;
  let newestVerifiedAt: Date | undefined;
  let bytes = 0;
  for (const manifest of manifests) {
    bytes += manifest.bytes;
    const createdAt = new Date(manifest.createdAt);
    if (!newestAt || createdAt > newestAt) newestAt = createdAt;
    if (manifest.verification?.ok === true && (!newestVerifiedAt || createdAt > newestVerifiedAt)) newestVerifiedAt = createdAt;
  }
  return { count: manifests.length, bytes, newestAt, newestVerifiedAt };
}

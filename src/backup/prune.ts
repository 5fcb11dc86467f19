import { errorMessage } from '../errors.js';
import { backupsHeldByRuns } from '../pipeline/journal.js';
import { deleteBackup, listBackups } from './store.js';
import type { BackupContext, BackupManifest } from './types.js';

export interface PruneOptions {
  readonly dryRun: boolean;
  /** The clock, for tests; default now. */
  readonly now?: Date;
}

export interface PruneResult {
  /** Deleted, or with dryRun those that would be. */
  deleted: BackupManifest[];
  kept: { manifest: BackupManifest; reason: string }[];
  /** Orphans and unreadable manifests: reported, never removed. */
  problems: string[];
}

const DAY_MS = 86_400_000;

/** Why `manifest` must stay; empty when retention lets it go. */
function reasonsToKeep(
  manifest: BackupManifest,
  position: number,
  context: { keepLast: number; newestVerified: BackupManifest | undefined; held: ReturnType<typeof backupsHeldByRuns>; cutoff: number; retentionDays: number },
): string[] {
  const reasons: string[] = [];
  if (position < context.keepLast) reasons.push(`one of the newest ${context.keepLast}`);
  if (manifest === context.newestVerified) reasons.push('the newest backup that verified');
  const run = context.held.get(manifest.id);
  if (run) reasons.push(`held by run ${run.runId} (${run.status})`);
  const created = Date.parse(manifest.createdAt);
  if (Number.isNaN(created)) reasons.push('creation time unreadable');
  else if (created >= context.cutoff) reasons.push(`younger than ${context.retentionDays} days`);
  return reasons;
}

/**
 * Deletes backups older than retentionDays, except the newest keepLast, the newest one that verified,
 * and any that an unfinished or failed run still depends on. Archive and manifest go together.
 */
export async function pruneBackups(ctx: BackupContext, options: PruneOptions): Promise<PruneResult> {
  const { settings, logger } = ctx;
  const { manifests, problems } = await listBackups(settings.backupDir);
  const context = {
    keepLast: settings.backup.keepLast,
    retentionDays: settings.backup.retentionDays,
    newestVerified: manifests.find((manifest) => manifest.verification?.ok === true),
    held: backupsHeldByRuns(settings.reportDir),
    cutoff: (options.now ?? new Date()).getTime() - settings.backup.retentionDays * DAY_MS,
  };
  const result: PruneResult = { deleted: [], kept: [], problems };
  for (const [position, manifest] of manifests.entries()) {
    const reasons = reasonsToKeep(manifest, position, context);
    if (reasons.length > 0) {
      result.kept.push({ manifest, reason: reasons.join('; ') });
      continue;
    }
    if (!options.dryRun) {
      try {
        deleteBackup(settings.backupDir, manifest);
      } catch (error) {
        problems.push(`could not delete backup ${manifest.id}: ${errorMessage(error)}`);
        continue;
      }
    }
    result.deleted.push(manifest);
    logger.info({ event: options.dryRun ? 'prune.would-delete' : 'prune.deleted', id: manifest.id, createdAt: manifest.createdAt }, `${options.dryRun ? 'would delete' : 'deleted'} backup ${manifest.id} from ${manifest.createdAt}`);
  }
  return result;
}

import { restoreIntoNewDatabase, verifyBackup, type BackupManifest } from '../backup/index.js';
import type { DbTarget } from '../db/target.js';
import { configuredPriority } from '../exec/priority.js';
import { RefusedError } from '../errors.js';
import type { MigrationRunState } from './state.js';

/**
 * Every new backup is read whole before production is touched. A run that rehearses restores the
 * archive into the scratch copy first thing, with --exit-on-error, after the same size and SHA-256
 * check a read-back makes: that restore reads every entry a separate read-back (pg_restore to
 * /dev/null) would, and proves more. So a rehearsing run leaves the read-back to the restore instead
 * of reading the archive twice; a run without a rehearsal (--skip-test, rollback) reads it back in
 * the backup step as before. See docs/performance.md.
 */
function readBackLeftToRehearsal(state: MigrationRunState): boolean {
  return !state.options.skipRehearsal;
}

function recordBackup(state: MigrationRunState, manifest: BackupManifest, verified: boolean, verifiedBy: string): void {
  state.recorder.detail('backup', { id: manifest.id, archive: manifest.archive, bytes: manifest.bytes, sha256: manifest.sha256, format: manifest.format, verified, verifiedBy });
}

/** The backup step's read-back, or the note that the rehearsal's restore will make it. */
export async function readBackNewBackup(state: MigrationRunState, manifest: BackupManifest): Promise<string> {
  if (readBackLeftToRehearsal(state)) {
    recordBackup(state, manifest, false, 'pending: the rehearsal restores it whole before production is touched');
    return 'read back by the rehearsal restore';
  }
  const verification = await verifyBackup(state.context, manifest.id);
  recordBackup(state, manifest, verification.ok, 'read back whole (pg_restore)');
  if (!verification.ok) throw new RefusedError(`the new backup ${manifest.id} did not verify: ${verification.problems.join('; ')}`);
  return 'verified';
}

/**
 * The rehearsal's restore of the new backup, which is also its read-back: when the restore fails, a
 * separate read-back tells a damaged archive apart from a scratch server that could not take it.
 */
export async function restoreNewBackup(state: MigrationRunState, manifest: BackupManifest, scratch: DbTarget): Promise<{ durationMs: number }> {
  try {
    // The rehearsal's copy yields to production's load like the dump does (backup.niceness); a rollback's restore never does.
    const priority = configuredPriority(state.context.settings.backup);
    const restored = await restoreIntoNewDatabase(state.context, manifest.id, scratch, priority ? { priority } : {});
    if (readBackLeftToRehearsal(state)) recordBackup(state, manifest, true, 'restored whole into the scratch copy (pg_restore --exit-on-error)');
    return restored;
  } catch (error) {
    if (!readBackLeftToRehearsal(state)) throw error;
    const verification = await verifyBackup(state.context, manifest.id);
    recordBackup(state, manifest, verification.ok, 'read back whole (pg_restore) after the rehearsal restore failed');
    if (!verification.ok) throw new RefusedError(`the new backup ${manifest.id} did not verify: ${verification.problems.join('; ')}`, { cause: error });
    throw error;
  }
}

/** The backup store: verified pg_dump archives with manifests, restore, and retention. */
export type { BackupContext, BackupManifest, BackupReason, BackupSource, BackupVerification, DatabaseSettings, TableEstimate } from './types.js';
export { createBackup, type CreateBackupOptions } from './create.js';
export { listBackups, readManifest, type BackupListing } from './store.js';
export { verifyBackup, type VerifyResult } from './verify.js';
export {
  assertBackupRestorable,
  completeReplacement,
  discardReplacement,
  expectManifestTables,
  prepareReplacement,
  restoreIntoNewDatabase,
  replaceDatabase,
  type PreparedReplacement,
  type ReplaceOptions,
  type RestoreOptions,
} from './restore.js';
export { preflightBackup, type PreflightResult } from './preflight.js';
export { pruneBackups, type PruneOptions, type PruneResult } from './prune.js';
export { rowsPerTable, type TableRows } from './catalog.js';
export { formatBytes } from './progress.js';
export { revisionForBackup } from './revision.js';
export { restoringIntoSource } from './source.js';

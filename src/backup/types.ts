import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';

export type BackupReason = 'pre-migration' | 'manual' | 'scheduled' | 'pre-restore';
export const BACKUP_REASONS: readonly BackupReason[] = ['pre-migration', 'manual', 'scheduled', 'pre-restore'];

/** What the backup store needs from a run; RunContext satisfies it structurally. */
export interface BackupContext {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly runId: string;
  readonly applicationName: string;
}

export interface TableEstimate {
  schema: string;
  name: string;
  estimatedRows: number;
}

/** The last check of an archive: a `verify` read, or a full restore, which proves even more. */
export interface BackupVerification {
  checkedAt: string;
  ok: boolean;
  method: 'verify' | 'restore';
  problems: string[];
}

/** Where the dump came from, to recognise a restore into its own source. No password. */
export interface BackupSource {
  host: string;
  port: number;
  database: string;
  /** pg_control_system().system_identifier: the same server under any host name. */
  systemIdentifier?: string;
}

/** What `pg_restore --create` would have set on the database; we create it ourselves instead. */
export interface DatabaseSettings {
  encoding: string;
  collate: string;
  ctype: string;
  /** `c` (libc) or `i` (ICU, with `iculocale`). */
  localeProvider: string;
  iculocale?: string;
}

/** The JSON manifest beside each archive. Written only once the archive is final. */
export interface BackupManifest {
  id: string;
  /** File name of the archive inside the backup directory. */
  archive: string;
  name?: string;
  /** describeTarget(): user@host:port/db, no password. */
  database: string;
  serverVersion: string;
  pgDumpVersion: string;
  revision: string | null;
  reason: BackupReason;
  runId: string;
  createdAt: string;
  durationMs: number;
  bytes: number;
  sha256: string;
  format: 'custom' | 'directory';
  tables: TableEstimate[];
  compressionLevel?: number;
  source?: BackupSource;
  databaseSettings?: DatabaseSettings;
  verification?: BackupVerification;
}

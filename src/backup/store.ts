import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { RefusedError, UsageError, errorMessage } from '../errors.js';
import { writeFileAtomic } from '../util/atomicFile.js';
import { redactDeep } from '../util/redact.js';
import { BACKUP_REASONS, type BackupManifest, type BackupVerification } from './types.js';

/**
 * The backup directory's layout: `<id>.dump` (custom) or `<id>.tar` (directory format bundled) with
 * `<id>.json` beside it. Work in progress lives under dot-names (`.<id>...partial`), which are never
 * mistaken for a backup.
 */
const ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;
const ARCHIVE_PATTERN = /^(\d{8}T\d{6}Z-[0-9a-f]{6})\.(dump|tar)$/;
const MANIFEST_PATTERN = /^(\d{8}T\d{6}Z-[0-9a-f]{6})\.json$/;
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** `20261122T023446Z-3f9a1c`: sorts by time, unique within a second. */
export function newBackupId(now: Date): string {
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function archiveFileName(id: string, format: BackupManifest['format']): string {
  return `${id}.${format === 'custom' ? 'dump' : 'tar'}`;
}

export function manifestPath(backupDir: string, id: string): string {
  return path.join(backupDir, `${id}.json`);
}

export function archivePath(backupDir: string, manifest: Pick<BackupManifest, 'archive'>): string {
  return path.join(backupDir, manifest.archive);
}

/** The backup directory, created private (0700) when missing: archives hold the whole database. */
export function ensureBackupDir(backupDir: string): void {
  mkdirSync(backupDir, { recursive: true, mode: 0o700 });
}

const manifestSchema = z.looseObject({
  id: z.string().regex(ID_PATTERN),
  archive: z.string().regex(ARCHIVE_PATTERN),
  name: z.string().optional(),
  database: z.string(),
  serverVersion: z.string(),
  pgDumpVersion: z.string(),
  revision: z.string().nullable(),
  reason: z.enum(BACKUP_REASONS as [BackupManifest['reason'], ...BackupManifest['reason'][]]),
  runId: z.string(),
  createdAt: z.iso.datetime({ offset: true }),
  durationMs: z.number(),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  format: z.enum(['custom', 'directory']),
  tables: z.array(z.looseObject({ schema: z.string(), name: z.string(), estimatedRows: z.number() })),
});

function parseManifest(file: string): BackupManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`unreadable manifest ${path.basename(file)}: ${errorMessage(error)}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid manifest ${path.basename(file)}: ${issue ? `${issue.path.join('.') || 'document'}: ${issue.message}` : 'bad shape'}`);
  }
  const manifest = parsed.data as BackupManifest;
  // The archive name must be this backup's own: a manifest can never point outside the directory or at another backup.
  if (`${manifest.id}.json` !== path.basename(file) || ARCHIVE_PATTERN.exec(manifest.archive)?.[1] !== manifest.id) {
    throw new Error(`invalid manifest ${path.basename(file)}: id or archive name does not match the file name`);
  }
  return manifest;
}

export function writeManifest(backupDir: string, manifest: BackupManifest): void {
  writeFileAtomic(manifestPath(backupDir, manifest.id), `${JSON.stringify(redactDeep(manifest), null, 2)}\n`);
}

export interface BackupListing {
  /** Complete backups (manifest and archive), newest first. */
  manifests: BackupManifest[];
  /** Orphan archives or manifests, unreadable manifests, leftovers of interrupted work. */
  problems: string[];
  /** Manifest files that promise a backup the store cannot deliver (unreadable, or their archive is missing). */
  damaged: string[];
}

function newestFirst(a: BackupManifest, b: BackupManifest): number {
  return b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);
}

export async function listBackups(backupDir: string): Promise<BackupListing> {
  if (!existsSync(backupDir)) return { manifests: [], problems: [], damaged: [] };
  const entries = readdirSync(backupDir);
  const archives = new Set(entries.filter((entry) => ARCHIVE_PATTERN.test(entry)));
  const manifests: BackupManifest[] = [];
  const problems: string[] = [];
  const damaged: string[] = [];
  const claimed = new Set<string>();
  for (const entry of entries.filter((candidate) => MANIFEST_PATTERN.test(candidate)).sort()) {
    let manifest: BackupManifest;
    try {
      manifest = parseManifest(path.join(backupDir, entry));
    } catch (error) {
      problems.push(errorMessage(error));
      damaged.push(entry);
      // Its archive is not an orphan: a damaged manifest is the problem to report.
      for (const extension of ['dump', 'tar']) claimed.add(entry.replace(/\.json$/, `.${extension}`));
      continue;
    }
    claimed.add(manifest.archive);
    if (archives.has(manifest.archive)) manifests.push(manifest);
    else {
      problems.push(`orphan manifest ${entry}: its archive ${manifest.archive} is missing`);
      damaged.push(entry);
    }
  }
  for (const archive of [...archives].sort()) {
    if (!claimed.has(archive)) problems.push(`orphan archive ${archive}: no manifest (not removed)`);
  }
  for (const entry of entries.filter((candidate) => candidate.startsWith('.') && candidate.includes('.partial')).sort()) {
    problems.push(`leftover ${entry}: an interrupted (or running) backup or restore`);
  }
  return { manifests: manifests.sort(newestFirst), problems, damaged };
}

/** The manifest of backup `id` (or of the one backup named `id`); UsageError when there is none. */
export async function readManifest(backupDir: string, id: string): Promise<BackupManifest> {
  if (ID_PATTERN.test(id)) {
    const file = manifestPath(backupDir, id);
    if (!existsSync(file)) throw new UsageError(`no backup ${id} in ${backupDir}`, { hint: 'orchestrate backups list shows them' });
    try {
      return parseManifest(file);
    } catch (error) {
      // The backup exists but cannot be trusted: a refusal, not a typo.
      throw new RefusedError(`backup ${id}: ${errorMessage(error)}`, { cause: error });
    }
  }
  const named = (await listBackups(backupDir)).manifests.filter((manifest) => manifest.name === id);
  if (named.length === 1 && named[0]) return named[0];
  if (named.length > 1) throw new UsageError(`${named.length} backups are named "${id}": give the id (${named.map((m) => m.id).join(', ')})`);
  throw new UsageError(`no backup with id or name "${id}" in ${backupDir}`, { hint: 'orchestrate backups list shows them' });
}

/** Remembers the last check in the manifest, so that prune knows which backups verified. */
export function recordVerification(backupDir: string, manifest: BackupManifest, verification: BackupVerification): BackupManifest {
  const updated = { ...manifest, verification };
  // A backup pruned meanwhile must not come back as an orphan manifest.
  if (existsSync(manifestPath(backupDir, manifest.id))) writeManifest(backupDir, updated);
  return updated;
}

/** Manifest first: a crash in between leaves an orphan archive, which is reported, never a manifest without its archive. */
export function deleteBackup(backupDir: string, manifest: BackupManifest): void {
  unlinkSync(manifestPath(backupDir, manifest.id));
  try {
    unlinkSync(archivePath(backupDir, manifest));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

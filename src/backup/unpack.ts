import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { extractBundle } from './files.js';
import { archivePath } from './store.js';
import type { BackupManifest } from './types.js';

/**
 * Runs `work` with a path pg_restore can read: the custom archive itself, or the bundled directory
 * unpacked next to it (same file system, private, removed afterwards whatever happens).
 */
export async function withReadableArchive<T>(backupDir: string, manifest: BackupManifest, work: (archive: string) => Promise<T>): Promise<T> {
  const archive = archivePath(backupDir, manifest);
  if (manifest.format === 'custom') return work(archive);
  const dir = path.join(backupDir, `.${manifest.id}.extract-${randomBytes(3).toString('hex')}.partial`);
  mkdirSync(dir, { mode: 0o700 });
  try {
    await extractBundle(archive, dir);
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

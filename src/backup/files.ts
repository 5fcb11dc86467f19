import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Bytes under a file or a directory tree; 0 when it does not exist yet (pg_dump has not started writing). */
export function bytesUnder(target: string): number {
  let stats;
  try {
    stats = statSync(target);
  } catch {
    return 0;
  }
  if (!stats.isDirectory()) return stats.size;
  let total = 0;
  for (const entry of readdirSync(target)) total += bytesUnder(path.join(target, entry));
  return total;
}

/** Bytes an unprivileged writer may still use on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}

/**
 * Bundles a pg_dump directory into one uncompressed tar (its members are already compressed by
 * pg_dump), so a parallel dump is still one file to checksum, copy and prune.
 */
export async function bundleDirectory(dir: string, tarFile: string): Promise<void> {
  await tar.create({ file: tarFile, cwd: dir, portable: true, strict: true }, readdirSync(dir).sort());
}

/** Unpacks a bundled directory-format archive; strict, so a truncated or damaged tar is an error, not a warning. */
export async function extractBundle(tarFile: string, dir: string): Promise<void> {
  await tar.extract({ file: tarFile, cwd: dir, strict: true });
}

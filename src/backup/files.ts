import { createHash } from 'node:crypto';
import { readdirSync, statSync, statfsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import * as tar from 'tar';

/** Bytes read per call while hashing: large enough that the system calls cost nothing next to SHA-256. */
const HASH_READ_BYTES = 1024 * 1024;

/**
 * SHA-256 of a file, read into one buffer used again for every read. A read stream allocates a new
 * buffer per chunk, and the garbage collector frees them only now and then: hashing a 1 GB archive
 * that way raised the process's peak memory with the archive's size. This way it stays flat.
 */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(HASH_READ_BYTES);
  const handle = await open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
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

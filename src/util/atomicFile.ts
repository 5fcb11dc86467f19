import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';

/** fsyncs a file's data, or a directory so that a rename inside it survives a crash. */
export function fsyncPath(target: string): void {
  const fd = openSync(target, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file so that readers see the old content or the new, never a torn one: a temporary file
 * in the same directory, fsynced, renamed over the target, then the directory fsynced.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array, mode = 0o600): void {
  const dir = path.dirname(file);
  // Directories it creates are private like the files (reports/, reports/runs/, backups/).
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(temporary, 'w', mode);
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
  fsyncPath(dir);
}

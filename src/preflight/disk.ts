import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { freeBytes } from '../backup/files.js';
import { formatBytes } from '../backup/progress.js';
import type { Settings } from '../config/settings.js';
import type { CheckResult } from '../validation/checks.js';
import { fail, pass } from './result.js';

const NAME = 'disk';

/** The directory itself, or the nearest ancestor that exists: where the backup directory would be created. */
function existingAncestor(dir: string): string {
  let current = path.resolve(dir);
  while (!existsSync(current)) {
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}

/**
 * Room for the backup, judged as the backup store's own preflight does (pg_database_size x
 * backup.sizeFactor, twice that for the directory format, which is bundled into a tar beside itself),
 * but without creating the backup directory: a dry run leaves no trace.
 */
export function diskCheck(settings: Settings, databaseBytes: number): CheckResult {
  const dir = settings.backupDir;
  const probe = existingAncestor(dir);
  if (!statSync(probe).isDirectory()) return fail(NAME, `backup directory ${dir} cannot be created: ${probe} is not a directory`);
  try {
    accessSync(probe, constants.W_OK);
  } catch (error) {
    return fail(NAME, `backup directory ${dir} is not writable (${(error as NodeJS.ErrnoException).code ?? 'access denied'} on ${probe})`);
  }
  const { sizeFactor, format } = settings.backup;
  const estimated = Math.ceil(databaseBytes * sizeFactor);
  const required = format === 'directory' ? estimated * 2 : estimated;
  const free = freeBytes(probe);
  const basis = `pg_database_size ${formatBytes(databaseBytes)} x sizeFactor ${sizeFactor}${format === 'directory' ? ' x 2 for the tar bundle' : ''}`;
  if (free < required) {
    return fail(NAME, `not enough free space in ${dir}: ${formatBytes(free)} free, the backup may need ${formatBytes(required)} (${basis}); free space, move backupDir, or lower backup.sizeFactor if your dumps compress well`);
  }
  return pass(NAME, `${formatBytes(free)} free in ${dir}, the backup may need ${formatBytes(required)} (${basis})`);
}

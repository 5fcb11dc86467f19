import { statSync } from 'node:fs';
import { errorMessage } from '../errors.js';
import { pgProgram } from '../exec/pgDump.js';
import { pgRestoreReadAll } from '../exec/pgRestore.js';
import { sha256File } from './files.js';
import { archivePath, readManifest, recordVerification } from './store.js';
import { toolFailure } from './toolFailure.js';
import type { BackupContext, BackupManifest } from './types.js';
import { withReadableArchive } from './unpack.js';

export interface VerifyResult {
  id: string;
  ok: boolean;
  problems: string[];
}

/** Size and SHA-256 against the manifest: what every restore checks before it touches a database. */
export async function checksumProblems(backupDir: string, manifest: BackupManifest): Promise<string[]> {
  const file = archivePath(backupDir, manifest);
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    return [`archive ${manifest.archive} cannot be read: ${errorMessage(error)}`];
  }
  const problems: string[] = [];
  if (size !== manifest.bytes) problems.push(`archive ${manifest.archive} has ${size} bytes, the manifest says ${manifest.bytes} (truncated or replaced)`);
  const sha256 = await sha256File(file);
  if (sha256 !== manifest.sha256) problems.push(`archive ${manifest.archive} fails its SHA-256 check (manifest ${manifest.sha256.slice(0, 12)}..., file ${sha256.slice(0, 12)}...)`);
  return problems;
}

/** pg_restore reads every byte of the archive and writes the SQL nowhere; `pg_restore -l` would pass a truncated one. */
async function readWholeArchive(ctx: BackupContext, manifest: BackupManifest): Promise<string[]> {
  const program = pgProgram(ctx.settings.tools.pgBinDir, 'pg_restore');
  try {
    return await withReadableArchive(ctx.settings.backupDir, manifest, async (archive) => {
      const run = await pgRestoreReadAll(program, archive);
      return run.ok ? [] : [`pg_restore cannot read the whole archive: ${toolFailure(run)}`];
    });
  } catch (error) {
    return [`archive ${manifest.archive} cannot be unpacked: ${errorMessage(error)}`];
  }
}

/**
 * Recomputes the checksum and reads the whole archive; the result is recorded in the manifest so that
 * prune can keep the newest backup that verified.
 */
export async function verifyBackup(ctx: BackupContext, id: string): Promise<VerifyResult> {
  const backupDir = ctx.settings.backupDir;
  const manifest = await readManifest(backupDir, id);
  const problems = await checksumProblems(backupDir, manifest);
  // A checksum mismatch already condemns the archive; reading a damaged file whole adds nothing.
  if (problems.length === 0) problems.push(...(await readWholeArchive(ctx, manifest)));
  const ok = problems.length === 0;
  recordVerification(backupDir, manifest, { checkedAt: new Date().toISOString(), ok, method: 'verify', problems });
  if (ok) ctx.logger.info({ event: 'backup.verified', id: manifest.id }, `backup ${manifest.id} verified`);
  else ctx.logger.warn({ event: 'backup.verify-failed', id: manifest.id, problems: problems.join('; ') }, `backup ${manifest.id} failed verification: ${problems.join('; ')}`);
  return { id: manifest.id, ok, problems };
}

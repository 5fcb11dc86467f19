import { randomBytes } from 'node:crypto';
import { closeSync, openSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { withClient } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import { OrchestrateError, RefusedError, errorMessage } from '../errors.js';
import { pgProgram, toolVersion, type ToolVersion } from '../exec/pgDump.js';
import { databaseFacts, tableEstimates, type DatabaseFacts } from './catalog.js';
import { freeBytes } from './files.js';
import { formatBytes } from './progress.js';
import { ensureBackupDir } from './store.js';
import type { BackupContext, TableEstimate } from './types.js';

export interface PreflightResult {
  readonly serverVersion: string;
  readonly pgDumpVersion: string;
  /** pg_database_size x backup.sizeFactor: an upper bound for the archive (pg_dump compresses and skips indexes). */
  readonly estimatedBytes: number;
  readonly freeBytes: number;
}

/** The preflight's findings plus what the dump itself records in the manifest. */
export interface PreflightDetails extends PreflightResult {
  readonly facts: DatabaseFacts;
  readonly tables: TableEstimate[];
  readonly pgDump: ToolVersion & { readonly program: string };
}

function assertWritable(backupDir: string): void {
  try {
    ensureBackupDir(backupDir);
    const probe = path.join(backupDir, `.write-probe-${process.pid}-${randomBytes(3).toString('hex')}`);
    closeSync(openSync(probe, 'wx', 0o600));
    unlinkSync(probe);
  } catch (error) {
    throw new RefusedError(`backup directory ${backupDir} is not writable: ${errorMessage(error)}`, { cause: error });
  }
}

async function pgDumpVersion(program: string): Promise<ToolVersion> {
  try {
    return await toolVersion(program);
  } catch (error) {
    // No usable pg_dump is a preflight refusal: nothing was touched.
    if (error instanceof OrchestrateError) throw new RefusedError(error.message, { hint: 'install the PostgreSQL client tools or set tools.pgBinDir', cause: error });
    throw error;
  }
}

export async function preflightDetails(ctx: BackupContext, target: DbTarget): Promise<PreflightDetails> {
  const { settings } = ctx;
  assertWritable(settings.backupDir);
  const program = pgProgram(settings.tools.pgBinDir, 'pg_dump');
  const pgDump = await pgDumpVersion(program);
  const { facts, tables } = await withClient(target, ctx.applicationName, async (client) => ({ facts: await databaseFacts(client), tables: await tableEstimates(client) }));
  if (pgDump.major < facts.serverMajor) {
    throw new RefusedError(`pg_dump ${pgDump.version} is older than the server (PostgreSQL ${facts.serverVersion}): it cannot dump a newer major version`, {
      hint: `install pg_dump ${facts.serverMajor} or newer, or point tools.pgBinDir at it`,
    });
  }
  const estimatedBytes = Math.ceil(facts.sizeBytes * settings.backup.sizeFactor);
  // The directory format is dumped, then bundled into a tar beside it: both exist for a moment.
  const required = settings.backup.format === 'directory' ? estimatedBytes * 2 : estimatedBytes;
  const free = freeBytes(settings.backupDir);
  if (free < required) {
    throw new RefusedError(
      `not enough free space in ${settings.backupDir}: ${formatBytes(free)} free, the backup may need ${formatBytes(required)} (pg_database_size ${formatBytes(facts.sizeBytes)} x sizeFactor ${settings.backup.sizeFactor}${settings.backup.format === 'directory' ? ' x 2 for the tar bundle' : ''})`,
      { hint: 'free space, move backupDir, or lower backup.sizeFactor if your dumps compress well' },
    );
  }
  ctx.logger.debug({ event: 'backup.preflight', serverVersion: facts.serverVersion, pgDumpVersion: pgDump.version, estimatedBytes, freeBytes: free }, 'backup preflight passed');
  return { serverVersion: facts.serverVersion, pgDumpVersion: pgDump.version, estimatedBytes, freeBytes: free, facts, tables, pgDump: { ...pgDump, program } };
}

/** Refuses (exit 3) when pg_dump is older than the server, the disk is short, or the backup directory is not writable. */
export async function preflightBackup(ctx: BackupContext, target: DbTarget): Promise<PreflightResult> {
  const details = await preflightDetails(ctx, target);
  return { serverVersion: details.serverVersion, pgDumpVersion: details.pgDumpVersion, estimatedBytes: details.estimatedBytes, freeBytes: details.freeBytes };
}

import { chmodSync, closeSync, openSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describeTarget, type DbTarget } from '../db/target.js';
import { ExitCode, RefusedError, ToolError, UsageError } from '../errors.js';
import { runPgDump } from '../exec/pgDump.js';
import { configuredPriority, priorityProblems } from '../exec/priority.js';
import { type ProgramRun } from '../exec/process.js';
import { fsyncPath } from '../util/atomicFile.js';
import { sourceOf } from './catalog.js';
import { bundleDirectory, bytesUnder, sha256File } from './files.js';
import { preflightDetails } from './preflight.js';
import { formatBytes, startProgress } from './progress.js';
import { archiveFileName, NAME_PATTERN, newBackupId, writeManifest } from './store.js';
import { toolFailure } from './toolFailure.js';
import type { BackupContext, BackupManifest, BackupReason } from './types.js';

export interface CreateBackupOptions {
  readonly reason: BackupReason;
  readonly revision: string | null;
  readonly name?: string;
  readonly signal?: AbortSignal;
}

const POLL_MS = 500;

function dumpError(run: ProgramRun, lockWaitTimeoutMs: number): Error {
  if (/could not obtain lock on relation/.test(run.stderr)) {
    return new RefusedError(`pg_dump could not lock a table within ${lockWaitTimeoutMs} ms (backup.lockWaitTimeoutMs): ${toolFailure(run)}`, {
      hint: 'another session holds an exclusive lock; retry when it is gone',
    });
  }
  // docs/backup.md: a backup that cannot be taken refuses the run (exit 3) before anything changed.
  return new ToolError(`pg_dump failed: ${toolFailure(run)}`, run.stderr, ExitCode.Refused);
}

/**
 * Dumps `target` into the backup directory. The archive is written under a dot-name, fsynced, made
 * 0600 and renamed into place; only then is the manifest written (atomically), so a crash at any
 * point leaves either a complete backup or an ignored leftover, never a manifest over a partial archive.
 */
export async function createBackup(ctx: BackupContext, target: DbTarget, options: CreateBackupOptions): Promise<BackupManifest> {
  if (options.name !== undefined && !NAME_PATTERN.test(options.name)) {
    throw new UsageError(`backup name "${options.name}" must be 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit`);
  }
  const { settings, logger } = ctx;
  const config = settings.backup;
  const backupDir = settings.backupDir;
  const preflight = await preflightDetails(ctx, target);

  const createdAt = new Date();
  const started = performance.now();
  const id = newBackupId(createdAt);
  const archive = archiveFileName(id, config.format);
  const partialFile = path.join(backupDir, `.${archive}.partial`);
  const partialDir = path.join(backupDir, `.${id}.d.partial`);
  const dumpOutput = config.format === 'custom' ? partialFile : partialDir;
  logger.info({ event: 'backup.started', id, database: describeTarget(target), format: config.format, reason: options.reason, estimatedBytes: preflight.estimatedBytes }, `backing up ${describeTarget(target)}`);

  const priority = configuredPriority(config);
  for (const problem of priority ? priorityProblems(priority) : []) logger.warn({ event: 'backup.priority' }, problem);

  try {
    // pg_dump keeps the mode of a file that exists: the archive is private from its first byte.
    if (config.format === 'custom') closeSync(openSync(partialFile, 'wx', 0o600));
    const progress = startProgress({
      logger,
      label: 'dump',
      unit: 'bytes',
      total: preflight.estimatedBytes,
      totalIsEstimate: true,
      intervalMs: config.progressIntervalSeconds * 1000,
    });
    const timer = setInterval(() => progress.update(bytesUnder(dumpOutput)), POLL_MS);
    let run: ProgramRun;
    try {
      run = await runPgDump({
        program: preflight.pgDump.program,
        target,
        applicationName: ctx.applicationName,
        format: config.format,
        output: dumpOutput,
        compressionLevel: config.compressionLevel,
        jobs: config.jobs,
        lockWaitTimeoutMs: config.lockWaitTimeoutMs,
        ...(priority ? { priority } : {}),
        ...(options.signal ? { cancelSignal: options.signal } : {}),
      });
    } finally {
      clearInterval(timer);
    }
    if (!run.ok) throw dumpError(run, config.lockWaitTimeoutMs);
    progress.update(bytesUnder(dumpOutput));
    progress.finish();

    if (config.format === 'directory') {
      closeSync(openSync(partialFile, 'wx', 0o600));
      await bundleDirectory(partialDir, partialFile);
      rmSync(partialDir, { recursive: true, force: true });
    }
    chmodSync(partialFile, 0o600);
    fsyncPath(partialFile);
    const sha256 = await sha256File(partialFile);
    const bytes = bytesUnder(partialFile);
    renameSync(partialFile, path.join(backupDir, archive));
    fsyncPath(backupDir);

    const manifest: BackupManifest = {
      id,
      archive,
      ...(options.name !== undefined ? { name: options.name } : {}),
      database: describeTarget(target),
      serverVersion: preflight.serverVersion,
      pgDumpVersion: preflight.pgDumpVersion,
      revision: options.revision,
      reason: options.reason,
      runId: ctx.runId,
      createdAt: createdAt.toISOString(),
      durationMs: Math.round(performance.now() - started),
      bytes,
      sha256,
      format: config.format,
      tables: preflight.tables,
      compressionLevel: config.compressionLevel,
      source: sourceOf(target, preflight.facts),
      databaseSettings: preflight.facts.settings,
    };
    writeManifest(backupDir, manifest);
    logger.info({ event: 'backup.created', id, bytes, durationMs: manifest.durationMs, sha256 }, `backup ${id} written (${formatBytes(bytes)} in ${(manifest.durationMs / 1000).toFixed(1)}s)`);
    return manifest;
  } catch (error) {
    rmSync(partialFile, { force: true });
    rmSync(partialDir, { recursive: true, force: true });
    throw error;
  }
}

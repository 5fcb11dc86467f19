import { createWriteStream, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { InternalError } from '../../errors.js';
import { fileTimestamp } from '../../log/logger.js';
import { readJournals, runsDirectory } from '../../pipeline/journal.js';
import { auditPath, isAuditSegment, rotateAudit } from '../../report/audit.js';
import { fsyncPath } from '../../util/atomicFile.js';
import type { Job, JobResult, JobRunContext } from '../jobRunner.js';

/** Where bundles go, inside the log and report directories; never itself swept. */
export const ARCHIVE_DIR = 'archive';

export interface HousekeepingOptions {
  readonly logDir: string;
  readonly reportDir: string;
  readonly olderThanDays: number;
  /** Files that must stay where they are whatever their age: the daemon's own open log. */
  readonly keep: readonly string[];
  /** The ledger and the daemon's own log are rotated once they reach this size. */
  readonly rotateBytes: number;
  /** The daemon's own log, and how to make its logger start a fresh file after the old one is renamed. */
  readonly ownLog?: { readonly file: string; reopen(): void };
}

/** Rotation threshold of audit.jsonl and the daemon's log: each scan of a fresh daemon reads at most this much per segment. */
export const ROTATE_BYTES = 16 * 1024 * 1024;

interface Sweep {
  readonly label: 'logs' | 'reports';
  readonly dir: string;
  /** Paths relative to `dir`. */
  readonly files: readonly string[];
}

export interface BundleResult {
  readonly label: string;
  readonly archive: string;
  readonly files: number;
  readonly bytes: number;
}

/**
 * Bundles old logs and reports into one .tar.gz per directory, then removes them. Never touches
 * audit.jsonl (the append-only ledger), nor anything belonging to a run that has not finished or
 * whose backup is still held (its journal is what keeps `backups prune` from deleting that backup).
 * An archive is written under a temporary name, checked entry by entry, and only then renamed and
 * the originals removed: a cancelled or failed sweep leaves the files as they were and no partial archive.
 *
 * Before the sweep it rotates what grows forever: audit.jsonl becomes a segment (kept, never swept:
 * see rotateAudit) and the daemon's own log is renamed and reopened, so the renamed part ages and is
 * swept like any other log.
 */
export function housekeepingJob(options: HousekeepingOptions): Job {
  return {
    name: 'housekeeping',
    run: (context) => sweepOldFiles(options, context),
  };
}

export async function sweepOldFiles(options: HousekeepingOptions, context: JobRunContext): Promise<JobResult> {
  const rotated = rotateGrowingFiles(options, context);
  const cutoff = context.now.getTime() - options.olderThanDays * 86_400_000;
  const protectedRuns = runsStillNeeded(options.reportDir);
  const keep = new Set(options.keep.map((file) => path.resolve(file)));
  const sweeps: Sweep[] = [{ label: 'reports', dir: options.reportDir, files: oldFiles(options.reportDir, cutoff, keep, protectedRuns, true) }];
  // One directory for both is allowed; sweeping it twice would archive files the first pass removed.
  if (path.resolve(options.logDir) !== path.resolve(options.reportDir)) {
    sweeps.unshift({ label: 'logs', dir: options.logDir, files: oldFiles(options.logDir, cutoff, keep, protectedRuns, false) });
  }
  const bundles: BundleResult[] = [];
  for (const sweep of sweeps) {
    if (sweep.files.length === 0) continue;
    context.signal.throwIfAborted();
    bundles.push(await bundle(sweep, context));
  }
  const files = bundles.reduce((sum, item) => sum + item.files, 0);
  const swept = files === 0 ? `nothing older than ${options.olderThanDays} days` : `${files} file${files === 1 ? '' : 's'} older than ${options.olderThanDays} days archived and removed`;
  return {
    summary: rotated.length === 0 ? swept : `${swept}; rotated ${rotated.map((file) => path.basename(file)).join(', ')}`,
    details: { archived: files, archives: bundles.map((item) => item.archive), rotated },
  };
}

/** Renames the ledger and the daemon's log once they are large; returns the new names of what was rotated. */
function rotateGrowingFiles(options: HousekeepingOptions, context: JobRunContext): string[] {
  const stamp = `${fileTimestamp(context.now)}-${context.runId}`;
  const rotated: string[] = [];
  const segment = rotateAudit(options.reportDir, options.rotateBytes, stamp);
  if (segment) {
    context.logger.info({ segment }, 'audit ledger rotated');
    rotated.push(segment);
  }
  const ownLog = options.ownLog;
  if (ownLog && (statSync(ownLog.file, { throwIfNoEntry: false })?.size ?? 0) >= options.rotateBytes) {
    const part = ownLog.file.replace(/(\.jsonl)?$/, `-until-${stamp}.jsonl`);
    // Sync writes: every line before the rename is in `part`, every line after reopen() in a new file.
    renameSync(ownLog.file, part);
    ownLog.reopen();
    fsyncPath(path.dirname(ownLog.file));
    context.logger.info({ part }, 'daemon log rotated');
    rotated.push(part);
  }
  return rotated;
}

/** Run ids whose files stay: still running, or holding a backup that prune must keep. */
function runsStillNeeded(reportDir: string): Set<string> {
  const needed = new Set<string>();
  for (const journal of readJournals(reportDir)) {
    if (journal.status === 'running' || (journal.backupId && journal.status !== 'succeeded')) needed.add(journal.runId);
  }
  return needed;
}

function oldFiles(dir: string, cutoff: number, keep: ReadonlySet<string>, protectedRuns: ReadonlySet<string>, withJournals: boolean): string[] {
  if (!existsSync(dir)) return [];
  const belongsToProtectedRun = (name: string) => [...protectedRuns].some((runId) => name.includes(runId));
  const pick = (relative: string): boolean => {
    const absolute = path.join(dir, relative);
    const name = path.basename(relative);
    // Dot files are temporaries of atomic writes (and .gitignore); the ledger and its segments are kept forever.
    if (name.startsWith('.') || keep.has(absolute) || absolute === auditPath(dir) || isAuditSegment(name) || belongsToProtectedRun(name)) return false;
    const stat = lstatSync(absolute, { throwIfNoEntry: false });
    return stat !== undefined && stat.isFile() && stat.mtimeMs < cutoff;
  };
  const top = readdirSync(dir).filter(pick);
  if (!withJournals || !existsSync(runsDirectory(dir))) return top.sort();
  const journals = readdirSync(runsDirectory(dir))
    .map((name) => path.join(path.basename(runsDirectory(dir)), name))
    .filter(pick);
  return [...top, ...journals].sort();
}

async function bundle(sweep: Sweep, context: JobRunContext): Promise<BundleResult> {
  const archiveDir = path.join(sweep.dir, ARCHIVE_DIR);
  mkdirSync(archiveDir, { recursive: true, mode: 0o700 });
  const name = `${sweep.label}-${fileTimestamp(context.now)}-${context.runId}.tar.gz`;
  const archive = path.join(archiveDir, name);
  const partial = path.join(archiveDir, `.${name}.partial`);
  const sizes = new Map(sweep.files.map((file) => [file, lstatSync(path.join(sweep.dir, file)).size]));
  context.logger.info({ directory: sweep.dir, files: sweep.files.length }, `bundling old ${sweep.label}`);
  try {
    await pipeline(tar.create({ gzip: true, cwd: sweep.dir, portable: true }, [...sweep.files]), createWriteStream(partial, { mode: 0o600 }), { signal: context.signal });
    fsyncPath(partial);
    context.signal.throwIfAborted();
    await verifyArchive(partial, sizes);
    context.signal.throwIfAborted();
    renameSync(partial, archive);
    fsyncPath(archiveDir);
  } finally {
    rmSync(partial, { force: true });
  }
  // The archive is complete and durable: from here on the sweep finishes even if cancelled (unlinks are quick).
  for (const file of sweep.files) unlinkSync(path.join(sweep.dir, file));
  fsyncPath(sweep.dir);
  const bytes = [...sizes.values()].reduce((sum, size) => sum + size, 0);
  context.logger.info({ archive, files: sweep.files.length, bytes }, `old ${sweep.label} archived`);
  return { label: sweep.label, archive, files: sweep.files.length, bytes };
}

/** Reads the archive back whole: every file present with its full size, or the originals stay. */
async function verifyArchive(file: string, sizes: ReadonlyMap<string, number>): Promise<void> {
  const seen = new Map<string, number>();
  // Our own archive of log files can legitimately exceed tar's zip-bomb guard (1000:1).
  await tar.list({ file, maxDecompressionRatio: Number.POSITIVE_INFINITY, strict: true, onReadEntry: (entry) => void seen.set(entry.path, entry.size) });
  for (const [name, size] of sizes) {
    if (seen.get(name) !== size) throw new InternalError(`archive check failed: ${name} is missing or truncated in ${path.basename(file)}; nothing was removed`);
  }
}


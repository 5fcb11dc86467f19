import path from 'node:path';
import { libpqEnv, type DbTarget } from '../db/target.js';
import { ToolError } from '../errors.js';
import { withPriority, type ProcessPriority } from './priority.js';
import { BULK_TOOL_TIMEOUT_MS, READ_ONLY_TOOL_TIMEOUT_MS, TAIL_OUTPUT_BYTES, lastLines, runProgram, type ProgramRun } from './process.js';

/** A PostgreSQL client program: from `tools.pgBinDir` when configured, else the first on PATH. */
export function pgProgram(binDir: string | undefined, name: 'pg_dump' | 'pg_restore'): string {
  return binDir ? path.join(binDir, name) : name;
}

/**
 * The environment of a pg_dump/pg_restore run that reads no database (--version, --list, reading an
 * archive). Debian's pg_wrapper picks the major version to start from the environment: with PGHOST set,
 * as every run against a database has it (libpqEnv), the newest installed; without, a local cluster's
 * (PGCLUSTER, user_clusters, the cluster on the default port), possibly another version. With PGHOST
 * these runs start the same program as the dump and the restore whose version they vouch for; the tools
 * themselves connect nowhere here, and without pg_wrapper nothing reads it.
 */
export function noDatabaseEnv(): Record<string, string> {
  return { PGHOST: process.env.PGHOST ?? 'localhost' };
}

export interface ToolVersion {
  /** As printed: `15.18`. */
  readonly version: string;
  /** 15 for 15.x; 9.6 for the pre-10 numbering. */
  readonly major: number;
}

/** Parses `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`. */
export function parseToolVersion(output: string): ToolVersion | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) return undefined;
  const first = Number(match[1]);
  const second = match[2] === undefined ? undefined : Number(match[2]);
  const major = first >= 10 || second === undefined ? first : first + second / 10;
  return { version: second === undefined ? String(first) : `${first}.${second}`, major };
}

/** `program --version`, parsed; a tool that cannot say its version is not one we can trust with a backup. */
async function readToolVersion(program: string): Promise<ToolVersion> {
  const run = await runProgram({ program, args: ['--version'], env: noDatabaseEnv(), timeoutMs: READ_ONLY_TOOL_TIMEOUT_MS });
  const parsed = run.ok ? parseToolVersion(run.stdout) : undefined;
  if (!parsed) throw new ToolError(`${run.command} did not report a PostgreSQL version: ${lastLines(run.stderr || run.stdout) || `exit code ${run.exitCode}`}`, run.stderr);
  return parsed;
}

/**
 * A run asks pg_dump its version three times (preflight checks, backup preflight, the dump's own
 * preflight) and pg_restore twice (preflight checks, restore), and on Debian each start goes through
 * the Perl pg_wrapper (0.1-0.2 s). One answer
 * serves a run; it expires so that a long-lived daemon notices an upgraded tool, and a failure is
 * never remembered.
 */
const VERSION_TTL_MS = 10 * 60 * 1000;
const knownVersions = new Map<string, { readonly at: number; readonly version: Promise<ToolVersion> }>();

/** `program --version`, parsed; a tool that cannot say its version is not one we can trust with a backup. */
export function toolVersion(program: string): Promise<ToolVersion> {
  // A bare name is found on PATH: another PATH may find another program.
  const key = `${program}\0${path.isAbsolute(program) ? '' : (process.env.PATH ?? '')}`;
  const known = knownVersions.get(key);
  if (known && performance.now() - known.at < VERSION_TTL_MS) return known.version;
  const version = readToolVersion(program);
  knownVersions.set(key, { at: performance.now(), version });
  version.catch(() => {
    if (knownVersions.get(key)?.version === version) knownVersions.delete(key);
  });
  return version;
}

export interface DumpSpec {
  readonly program: string;
  readonly target: DbTarget;
  readonly applicationName: string;
  readonly format: 'custom' | 'directory';
  /** The output file (custom) or a directory that does not exist yet (directory). */
  readonly output: string;
  readonly compressionLevel: number;
  /** Parallel jobs; only the directory format dumps in parallel. */
  readonly jobs: number;
  readonly lockWaitTimeoutMs: number;
  /** Lower CPU and I/O priority (backup.niceness, backup.ioPriority); default: unchanged. */
  readonly priority?: ProcessPriority;
  readonly cancelSignal?: AbortSignal;
  /** Wall-clock limit; default BULK_TOOL_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  readonly onStderr?: (chunk: string) => void;
}

/** The argv of one dump. The database and credentials travel in the environment, never here. */
export function pgDumpArgs(spec: Omit<DumpSpec, 'program' | 'target' | 'applicationName' | 'priority'>): string[] {
  return [
    `--format=${spec.format}`,
    `--file=${spec.output}`,
    `--compress=${spec.compressionLevel}`,
    `--lock-wait-timeout=${spec.lockWaitTimeoutMs}`,
    ...(spec.format === 'directory' && spec.jobs > 1 ? [`--jobs=${spec.jobs}`] : []),
    '--no-password',
    '--verbose',
  ];
}

export function runPgDump(spec: DumpSpec): Promise<ProgramRun> {
  return runProgram({
    ...withPriority(spec.program, pgDumpArgs(spec), spec.priority),
    // PGDATABASE names the database: unlike a -d argument it is never expanded as a connection string.
    env: libpqEnv(spec.target, { applicationName: spec.applicationName }),
    timeoutMs: spec.timeoutMs ?? BULK_TOOL_TIMEOUT_MS,
    // --verbose lists every object: people read its end, the progress counter reads it live.
    capture: { mode: 'tail', bytes: TAIL_OUTPUT_BYTES },
    ...(spec.cancelSignal ? { cancelSignal: spec.cancelSignal } : {}),
    ...(spec.onStderr ? { onStderr: spec.onStderr } : {}),
  });
}

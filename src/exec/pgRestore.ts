import { libpqEnv, type DbTarget } from '../db/target.js';
import { noDatabaseEnv } from './pgDump.js';
import { withPriority, type ProcessPriority } from './priority.js';
import { BULK_TOOL_TIMEOUT_MS, READ_ONLY_TOOL_TIMEOUT_MS, TAIL_OUTPUT_BYTES, runProgram, type ProgramRun } from './process.js';

/** Reads the whole archive and writes the SQL nowhere: the only check that finds truncated or damaged data (`-l` reads the TOC alone). */
export function pgRestoreReadAll(program: string, archive: string): Promise<ProgramRun> {
  return runProgram({ program, args: ['--file=/dev/null', archive], env: noDatabaseEnv(), timeoutMs: BULK_TOOL_TIMEOUT_MS, capture: { mode: 'tail', bytes: TAIL_OUTPUT_BYTES } });
}

/** The archive's table of contents, one entry per line; comment lines start with `;`. */
export function pgRestoreList(program: string, archive: string): Promise<ProgramRun> {
  return runProgram({ program, args: ['--list', archive], env: noDatabaseEnv(), timeoutMs: READ_ONLY_TOOL_TIMEOUT_MS });
}

export interface RestoreSpec {
  readonly program: string;
  /** The database restored into; it must already exist. */
  readonly target: DbTarget;
  readonly applicationName: string;
  readonly archive: string;
  readonly jobs: number;
  /** --no-owner --no-acl: roles and grants of the source need not exist here. */
  readonly noOwner: boolean;
  /** Lower CPU and I/O priority (backup.niceness, backup.ioPriority); default: unchanged. */
  readonly priority?: ProcessPriority;
  readonly cancelSignal?: AbortSignal;
  /** Wall-clock limit; default BULK_TOOL_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  readonly onStderr?: (chunk: string) => void;
}

/** A conninfo holding only the database name, so that a name containing `=` is never read as a connection string. */
function dbnameConninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The argv of one restore. Never `--create`: it restores into the database named inside the dump,
 * whatever `--dbname` says. `--exit-on-error` stops at the first error; the caller drops the database.
 */
export function pgRestoreArgs(spec: Pick<RestoreSpec, 'target' | 'archive' | 'jobs' | 'noOwner'>): string[] {
  return [
    `--dbname=${dbnameConninfo(spec.target.database)}`,
    '--exit-on-error',
    ...(spec.jobs > 1 ? [`--jobs=${spec.jobs}`] : []),
    ...(spec.noOwner ? ['--no-owner', '--no-acl'] : []),
    '--no-password',
    '--verbose',
    spec.archive,
  ];
}

export function runPgRestore(spec: RestoreSpec): Promise<ProgramRun> {
  return runProgram({
    ...withPriority(spec.program, pgRestoreArgs(spec), spec.priority),
    env: libpqEnv(spec.target, { applicationName: spec.applicationName }),
    timeoutMs: spec.timeoutMs ?? BULK_TOOL_TIMEOUT_MS,
    capture: { mode: 'tail', bytes: TAIL_OUTPUT_BYTES },
    ...(spec.cancelSignal ? { cancelSignal: spec.cancelSignal } : {}),
    ...(spec.onStderr ? { onStderr: spec.onStderr } : {}),
  });
}

/**
 * The SQL of the schema entries named in `listFile` (lines of `pgRestoreList` output), on stdout.
 * Reads definitions only, never table data, and connects to no database.
 */
export function pgRestoreSchemaScript(program: string, archive: string, listFile: string): Promise<ProgramRun> {
  return runProgram({ program, args: ['--schema-only', `--use-list=${listFile}`, '--file=-', archive], env: noDatabaseEnv(), timeoutMs: READ_ONLY_TOOL_TIMEOUT_MS });
}

import { ExitCode, ToolError } from '../errors.js';
import { redact } from '../util/redact.js';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { resolveProgram, spawnSupervised } from './supervisor.js';

/** What a tool run keeps of its output in memory (the log gets all of it through onStdout/onStderr). */
export type OutputCapture =
  /** The whole output, for callers that parse it (history, current, --sql, pg_restore --list); more than `limitBytes` fails the run loudly. */
  | { readonly mode: 'complete'; readonly limitBytes: number }
  /** The last `bytes` of each stream, for runs whose output is read by people (migrations, dumps, restores). */
  | { readonly mode: 'tail'; readonly bytes: number };

/** Generous: the largest output a caller parses is a schema's rendered SQL. */
export const COMPLETE_OUTPUT_LIMIT_BYTES = 256 * 1024 * 1024;
/** Enough for the failing statement and the traceback around it. */
export const TAIL_OUTPUT_BYTES = 256 * 1024;
/** Wall-clock limit of read-only tool calls (current, history, --sql, --list, --version) unless the caller has its own. */
export const READ_ONLY_TOOL_TIMEOUT_MS = 120_000;
/** lock_timeout of read-only tool sessions (alembic current) unless the caller sets one: well inside the wall-clock limit. */
export const READ_ONLY_LOCK_TIMEOUT_MS = 10_000;
/** Wall-clock limit of dumps, restores and whole-archive reads unless the caller has its own: long, but a bound. */
export const BULK_TOOL_TIMEOUT_MS = 12 * 60 * 60 * 1000;
/** After SIGTERM, how long a stopped tool gets before SIGKILL. */
export const KILL_GRACE_MS = 5_000;

export interface ProgramSpec {
  readonly program: string;
  readonly args: readonly string[];
  /** Added to the inherited environment; secrets go here, never into args. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Wall-clock limit, required: no tool call may hang. SIGTERM to the tool's process group at expiry, SIGKILL 5 s later. */
  readonly timeoutMs: number;
  readonly cancelSignal?: AbortSignal;
  /** Default: complete, up to COMPLETE_OUTPUT_LIMIT_BYTES. */
  readonly capture?: OutputCapture;
  /** Called with each chunk of stderr as it arrives (progress, live logging). */
  readonly onStderr?: (chunk: string) => void;
  readonly onStdout?: (chunk: string) => void;
}

export interface ProgramRun {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  /** The whole output, or with capture mode "tail" its last part (then `droppedBytes` says how much was left out). */
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  readonly ok: boolean;
  /** Output left out of stdout/stderr by a tail capture; absent when nothing was. */
  readonly droppedBytes?: { readonly stdout: number; readonly stderr: number };
}

/** The printable form of a command line (arguments never hold secrets, but URLs are redacted anyway). */
export function displayCommand(program: string, args: readonly string[]): string {
  return redact([program, ...args].map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replace(/'/g, `'\\''`)}'`)).join(' '));
}

/**
 * Why `file` cannot be exec'd as a program, or undefined: the shell that starts it would run any other
 * file as a shell script, and a directory fails only once started, both with confusing results.
 */
function whyNotAProgram(file: string): string | undefined {
  if (!statSync(file).isFile()) return 'is not a file';
  const head = Buffer.alloc(4);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  const isScript = head[0] === 0x23 && head[1] === 0x21; // "#!"
  const isElf = head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  return isScript || isElf ? undefined : 'is not a program (no "#!" line, not an executable binary)';
}

/** One output stream as kept in memory: everything up to a limit, or a sliding tail. */
export class OutputBuffer {
  private chunks: string[] = [];
  private kept = 0;
  dropped = 0;
  overflowed = false;

  constructor(private readonly capture: OutputCapture) {}

  add(chunk: string): void {
    this.chunks.push(chunk);
    this.kept += chunk.length;
    if (this.capture.mode === 'complete') {
      if (this.kept > this.capture.limitBytes) this.overflowed = true;
      return;
    }
    // Joined only now and then: the tail stays between `bytes` and twice that.
    if (this.kept > 2 * this.capture.bytes) {
      const text = this.chunks.join('');
      const cut = text.length - this.capture.bytes;
      this.dropped += cut;
      this.chunks = [text.slice(cut)];
      this.kept = this.capture.bytes;
    }
  }

  text(): string {
    const text = this.chunks.join('');
    if (this.capture.mode === 'complete' || text.length <= this.capture.bytes) return text;
    const cut = text.length - this.capture.bytes;
    this.dropped += cut;
    this.chunks = [text.slice(cut)];
    return this.chunks[0] ?? '';
  }
}

/** The two ways a run is ended early, each by calling `stop`: its wall-clock limit and the caller's cancel. */
export interface RunLimits {
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  /** Once the run has ended: neither may fire any more. */
  disarm(): void;
}

export function armRunLimits(timeoutMs: number, cancelSignal: AbortSignal | undefined, stop: () => void): RunLimits {
  let timedOut = false;
  let cancelled = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, timeoutMs);
  const onAbort = () => {
    cancelled = true;
    stop();
  };
  if (cancelSignal?.aborted) onAbort();
  else cancelSignal?.addEventListener('abort', onAbort, { once: true });
  return {
    get timedOut() {
      return timedOut;
    },
    get cancelled() {
      return cancelled;
    },
    disarm: () => {
      clearTimeout(timer);
      cancelSignal?.removeEventListener('abort', onAbort);
    },
  };
}

/** A complete capture that overflowed: the run was stopped, since a truncated output would be parsed wrong. */
export function overflowError(command: string, capture: OutputCapture, stream: 'stdout' | 'stderr'): ToolError {
  return new ToolError(`${command} wrote more than ${Math.round(capture.mode === 'complete' ? capture.limitBytes / 1024 / 1024 : 0)} MiB to ${stream}: stopped rather than read a truncated output`, '');
}

/** What a program run that ended (by itself, or stopped by its limits) returns. */
export function endedRun(command: string, startedAt: number, exitCode: number | undefined, signal: string | undefined, limits: RunLimits, stdout: OutputBuffer, stderr: OutputBuffer): ProgramRun {
  const stdoutText = stdout.text();
  const stderrText = stderr.text();
  return {
    command,
    exitCode,
    signal,
    stdout: stdoutText,
    stderr: stderrText,
    durationMs: Math.round(performance.now() - startedAt),
    timedOut: limits.timedOut,
    cancelled: limits.cancelled,
    ok: exitCode === 0 && !limits.timedOut && !limits.cancelled,
    ...(stdout.dropped + stderr.dropped > 0 ? { droppedBytes: { stdout: stdout.dropped, stderr: stderr.dropped } } : {}),
  };
}

/**
 * Runs an external program under the supervisor (it cannot outlive orchestrate) and returns what
 * happened; it never throws for a non-zero exit. It throws when the program cannot be started, and
 * when a complete capture overflows its limit (a truncated parse would be silently wrong).
 */
export async function runProgram(spec: ProgramSpec): Promise<ProgramRun> {
  // spawn reports a missing working directory as ENOENT of the program: say which one is missing.
  if (spec.cwd !== undefined && !existsSync(spec.cwd)) throw new ToolError(`cannot run ${spec.program}: its working directory ${spec.cwd} does not exist`, '', ExitCode.Usage);
  const env: NodeJS.ProcessEnv = { ...process.env, ...spec.env };
  const file = resolveProgram(spec.program, spec.cwd, env.PATH);
  // A program that cannot be started (not on PATH, not executable, not a program) is a configuration error.
  if (!file) {
    const named = spec.program.includes('/') ? path.resolve(spec.cwd ?? process.cwd(), spec.program) : undefined;
    if (named && existsSync(named)) throw new ToolError(`could not start ${spec.program}: ${named} is not executable (chmod +x, or name the interpreter first)`, '', ExitCode.Usage);
    throw new ToolError(`${spec.program} not found (is it installed and on PATH?)`, '', ExitCode.Usage);
  }
  const notAProgram = whyNotAProgram(file);
  if (notAProgram) throw new ToolError(`could not start ${spec.program}: ${file} ${notAProgram}`, '', ExitCode.Usage);
  const command = displayCommand(spec.program, spec.args);
  const capture = spec.capture ?? { mode: 'complete', limitBytes: COMPLETE_OUTPUT_LIMIT_BYTES };
  const started = performance.now();
  const supervised = spawnSupervised(file, spec.args, { env, cwd: spec.cwd });
  const { child } = supervised;
  const stdout = new OutputBuffer(capture);
  const stderr = new OutputBuffer(capture);
  let overflow: 'stdout' | 'stderr' | undefined;
  const stop = () => supervised.stop(KILL_GRACE_MS);
  const collect = (stream: NodeJS.ReadableStream | null, buffer: OutputBuffer, name: 'stdout' | 'stderr', listener: ((chunk: string) => void) | undefined) => {
    if (!stream) return Promise.resolve();
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer.add(chunk);
      listener?.(chunk);
      if (buffer.overflowed && !overflow) {
        overflow = name;
        stop();
      }
    });
    return new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
  };
  const streams = Promise.all([collect(child.stdout, stdout, 'stdout', spec.onStdout), collect(child.stderr, stderr, 'stderr', spec.onStderr)]);
  const limits = armRunLimits(spec.timeoutMs, spec.cancelSignal, stop);
  try {
    const { exitCode, signal } = await new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, sig) => resolve({ exitCode: code, signal: sig }));
    });
    // Anything the program left running in its group (holding our pipes open) goes now, not at the timeout.
    supervised.release();
    await streams;
    if (overflow) throw overflowError(command, capture, overflow);
    return endedRun(command, started, exitCode ?? undefined, signal ?? undefined, limits, stdout, stderr);
  } catch (error) {
    if (error instanceof ToolError) throw error;
    throw new ToolError(`could not start ${command}: ${redact(error instanceof Error ? error.message : String(error))}`, '', ExitCode.Usage);
  } finally {
    limits.disarm();
    supervised.release();
  }
}

/** The last non-empty lines of a tool's output, for one-line error messages (the report keeps it whole). */
export function lastLines(text: string, count = 1): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .slice(-count)
    .join(' | ');
}

// An exception line (`psycopg2.errors.LockNotAvailable: ...`, `sqlalchemy.exc.DataError: ...`), a server
// error as psql and libpq print it (`ERROR:  ...`), or node's `error: ...`.
const EXCEPTION_LINE = /^([\w.]+\.)?\w*(Error|Exception)\b[^:]*:|\bERROR:|^error:/;
const GENERIC_ERROR = /\b(error|exception|fatal|failed)\b/i;
const TRACEBACK_GLUE = /^(The above exception|During handling of the above exception|Traceback \(most recent call last\))/;

/**
 * The line of a tool's output that says what went wrong: the last exception or server error line
 * (a Python traceback ends with it), else the last line that mentions an error, else the last line.
 * For one-line messages only; reports keep the whole output.
 */
export function failureSummary(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('(Background on this error at') && !TRACEBACK_GLUE.test(line));
  const reversed = [...lines].reverse();
  const summary = reversed.find((line) => EXCEPTION_LINE.test(line)) ?? reversed.find((line) => GENERIC_ERROR.test(line)) ?? lines.at(-1) ?? '';
  // "canceling statement due to lock timeout" alone does not say what was locked: the statement does.
  const statement = LOCK_TIMEOUT.test(summary) ? reversed.find((line) => SQLALCHEMY_STATEMENT.test(line)) : undefined;
  return statement ? `${summary} ${statement}` : summary;
}

const LOCK_TIMEOUT = /lock timeout/i;
// SQLAlchemy prints the failing statement as `[SQL: ...]` under the exception.
const SQLALCHEMY_STATEMENT = /^\[SQL: /;

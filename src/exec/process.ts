import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { ExitCode, ToolError } from '../errors.js';
import { redact } from '../util/redact.js';

export interface ProgramSpec {
  readonly program: string;
  readonly args: readonly string[];
  /** Added to the inherited environment; secrets go here, never into args. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Wall-clock limit: SIGTERM at expiry, SIGKILL 5 s later. */
  readonly timeoutMs?: number;
  readonly cancelSignal?: AbortSignal;
  /** Called with each chunk of stderr as it arrives (progress, live logging). */
  readonly onStderr?: (chunk: string) => void;
  readonly onStdout?: (chunk: string) => void;
}

export interface ProgramRun {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  /** Whole outputs, never truncated: the failing statement is often at the end of a long log. */
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  readonly ok: boolean;
}

/** The printable form of a command line (arguments never hold secrets, but URLs are redacted anyway). */
export function displayCommand(program: string, args: readonly string[]): string {
  return redact([program, ...args].map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replace(/'/g, `'\\''`)}'`)).join(' '));
}

/** Runs an external program and returns what happened; it never throws for a non-zero exit. */
export async function runProgram(spec: ProgramSpec): Promise<ProgramRun> {
  // spawn reports a missing working directory as ENOENT of the program: say which one is missing.
  if (spec.cwd !== undefined && !existsSync(spec.cwd)) throw new ToolError(`cannot run ${spec.program}: its working directory ${spec.cwd} does not exist`, '', ExitCode.Usage);
  const started = performance.now();
  const subprocess = execa(spec.program, [...spec.args], {
    env: { ...spec.env },
    extendEnv: true,
    cwd: spec.cwd,
    reject: false,
    stdin: 'ignore',
    stripFinalNewline: false,
    maxBuffer: 512 * 1024 * 1024,
    forceKillAfterDelay: 5000,
    ...(spec.timeoutMs !== undefined ? { timeout: spec.timeoutMs } : {}),
    ...(spec.cancelSignal ? { cancelSignal: spec.cancelSignal } : {}),
  });
  if (spec.onStderr) subprocess.stderr?.on('data', (chunk: Buffer) => spec.onStderr?.(chunk.toString()));
  if (spec.onStdout) subprocess.stdout?.on('data', (chunk: Buffer) => spec.onStdout?.(chunk.toString()));
  const result = await subprocess;
  const command = displayCommand(spec.program, spec.args);
  if (result.failed && result.exitCode === undefined && !result.timedOut && !result.isCanceled && !result.signal) {
    const code = (result.cause as NodeJS.ErrnoException | undefined)?.code;
    // A program that cannot be started (not on PATH, not executable, not a program) is a configuration error.
    throw new ToolError(
      code === 'ENOENT' ? `${spec.program} not found (is it installed and on PATH?)` : `could not start ${command} (${code ?? redact(result.shortMessage ?? '').split('\n')[0]}): it must be an executable program`,
      '',
      ExitCode.Usage,
    );
  }
  return {
    command,
    exitCode: result.exitCode,
    signal: result.signal ?? undefined,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    durationMs: Math.round(performance.now() - started),
    timedOut: result.timedOut,
    cancelled: result.isCanceled,
    ok: !result.failed,
  };
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
  return reversed.find((line) => EXCEPTION_LINE.test(line)) ?? reversed.find((line) => GENERIC_ERROR.test(line)) ?? lines.at(-1) ?? '';
}

import { execa } from 'execa';
import { ToolError } from '../errors.js';
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
    throw new ToolError(
      code === 'ENOENT' ? `${spec.program} not found (is it installed and on PATH?)` : `could not start ${command}: ${redact(result.shortMessage ?? "")}`,
      '',
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

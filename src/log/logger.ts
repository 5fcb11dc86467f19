import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { redact } from '../util/redact.js';
import { renderConsoleLine } from './console.js';
import { createStepView } from './stepView.js';

export type { Logger } from 'pino';
export type ConsoleLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
/** `steps`: the operator's view (stepView.ts); `events`: every event as a line (`--verbose`, `--json`). */
export type ConsoleMode = 'steps' | 'events';

export interface RunLogOptions {
  readonly logDir: string;
  readonly runId: string;
  readonly command: string;
  /** The least severe level shown on the terminal; the file always gets everything from debug up. */
  readonly consoleLevel: ConsoleLevel;
  readonly consoleMode?: ConsoleMode;
  readonly startedAt?: Date;
}

export interface RunLog {
  readonly logger: Logger;
  /** The same log file without the terminal: for events the error boundary already tells the user. */
  readonly fileLogger: Logger;
  /** The JSON-lines log file of this run. */
  readonly file: string;
  /** Finishes the terminal view (its last frame, the cursor back) before the outcome is printed. */
  closeConsole(): void;
  /** Opens `file` anew (after it was renamed away): log rotation by a long-running daemon. */
  reopen(): void;
}

/** `2026-11-22T02-19-22Z`: sortable and safe in a file name. */
export function fileTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
}

/**
 * One pino logger, two renderings of the same events: a JSON-lines file under logs/ and a concise
 * human view on stderr. Every serialized line passes through `redact` before it is written, so no
 * call site can leak a password by forgetting to.
 */
export function createRunLog(options: RunLogOptions): RunLog {
  // Private like the files in it (0600): run logs name databases, hosts and what was done to them.
  mkdirSync(options.logDir, { recursive: true, mode: 0o700 });
  const file = path.join(options.logDir, `${fileTimestamp(options.startedAt ?? new Date())}-${options.runId}.jsonl`);
  // Synchronous writes: the error boundary exits the process right after the last line.
  // Opened by name (not by descriptor) so that reopen() can follow a rotation.
  const fileStream = pino.destination({ dest: file, append: true, mode: 0o600, sync: true });
  const streams: pino.StreamEntry[] = [{ level: 'debug', stream: fileStream }];
  let closeConsole = () => undefined as void;
  if (options.consoleLevel !== 'silent') {
    if (options.consoleMode === 'steps') {
      const view = createStepView(process.stderr);
      streams.push({ level: options.consoleLevel, stream: { write: (line: string) => view.write(line) } });
      closeConsole = () => view.close();
    } else {
      streams.push({ level: options.consoleLevel, stream: { write: (line: string) => void process.stderr.write(renderConsoleLine(line)) } });
    }
  }
  const pinoOptions: pino.LoggerOptions = {
    level: 'debug',
    base: { runId: options.runId, command: options.command },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: { streamWrite: (line) => redact(line) },
  };
  return { logger: pino(pinoOptions, pino.multistream(streams)), fileLogger: pino(pinoOptions, fileStream), file, closeConsole, reopen: () => fileStream.reopen() };
}

/** A logger that writes nowhere, for library callers and tests that do not care. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

import cliSpinners from 'cli-spinners';
import { createLogUpdate } from 'log-update';
import { formatDuration } from './format.js';

/**
 * The operator's view of a run on the terminal, built from the same log events the run log gets:
 * one line per pipeline step. On a TTY the lines update in place (log-update redraws them; a spinner
 * while a step runs, then a tick or a cross and its duration, the dump's and restore's progress on the
 * running step's line). Elsewhere (CI, deploy.sh, cron) plain lines without control codes, one per
 * finished step. Warnings and errors are printed as they come in both. `--verbose` bypasses this for
 * the full event stream (console.ts).
 */
export interface StepView {
  /** One serialized (JSON) log line, already redacted. */
  write(line: string): void;
  /** Draws the final state and leaves the terminal as it found it (cursor shown). Idempotent. */
  close(): void;
}

export interface TerminalStream {
  write(chunk: string): boolean;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

type StepStatus = 'running' | 'succeeded' | 'failed' | 'skipped' | 'undone';

interface StepLine {
  readonly name: string;
  status: StepStatus;
  startedAt: number;
  durationMs?: number;
  note?: string;
  progress?: string;
  /** Warnings logged while the step ran, shown under it. */
  readonly warnings: string[];
}

interface LogEvent {
  readonly level?: number;
  readonly msg?: string;
  readonly step?: string;
  readonly durationMs?: number;
  readonly detail?: string;
  readonly error?: string;
  readonly event?: string;
  /** Set on a run's closing event: the summary on stdout says it, so the view does not repeat it. */
  readonly outcome?: string;
}

const STEP_MESSAGE = /^(.+): (started|succeeded|failed|skipped|undone)$/;
const WARN = 40;
const SYMBOLS: Readonly<Record<Exclude<StepStatus, 'running'>, string>> = { succeeded: '✔', failed: '✖', skipped: '-', undone: '↺' };
const PLAIN_STATUS: Readonly<Record<Exclude<StepStatus, 'running'>, string>> = { succeeded: 'ok', failed: 'FAILED', skipped: 'skipped', undone: 'undone' };

function parse(line: string): LogEvent | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as LogEvent) : undefined;
  } catch {
    return undefined;
  }
}

/** A step transition as the run recorder logs it (`{step, msg: "<step>: <status>"}`), else undefined. */
function stepTransition(event: LogEvent): { name: string; status: StepStatus } | undefined {
  if (typeof event.step !== 'string' || typeof event.msg !== 'string') return undefined;
  const match = STEP_MESSAGE.exec(event.msg);
  if (!match || match[1] !== event.step) return undefined;
  return { name: event.step, status: match[2] === 'started' ? 'running' : (match[2] as StepStatus) };
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();

/** Live progress text for the running step (the dump's or restore's bytes and rate), if a live view is drawing. */
let liveProgressSink: ((text: string | undefined) => void) | undefined;

/** Where progress of a long job goes on a TTY while a step view draws: undefined when none does. */
export function liveProgress(): ((text: string | undefined) => void) | undefined {
  return liveProgressSink;
}

export function createStepView(stream: TerminalStream, now: () => number = () => performance.now()): StepView {
  return stream.isTTY === true ? liveView(stream, now) : plainView(stream);
}

/** No control codes: a line per finished step, warnings and errors, and the interval progress lines. */
function plainView(stream: TerminalStream): StepView {
  return {
    write(line) {
      const event = parse(line);
      if (!event) return;
      const transition = stepTransition(event);
      if (transition) {
        if (transition.status === 'running') return;
        const duration = event.durationMs !== undefined ? formatDuration(event.durationMs) : '';
        const note = oneLine(event.error ?? event.detail ?? '');
        stream.write(`${transition.name.padEnd(13)} ${PLAIN_STATUS[transition.status as Exclude<StepStatus, 'running'>].padEnd(7)} ${duration.padStart(7)}${note ? `  ${note}` : ''}\n`);
        return;
      }
      if (typeof event.event === 'string' && event.event.endsWith('.progress')) {
        stream.write(`${oneLine(event.msg ?? '')}\n`);
        return;
      }
      if ((event.level ?? 0) >= WARN && event.outcome === undefined) stream.write(`${(event.level ?? 0) > WARN ? 'error' : 'warning'}: ${oneLine(event.msg ?? '')}${event.error ? `: ${oneLine(event.error)}` : ''}\n`);
    },
    close() {},
  };
}

function liveView(stream: TerminalStream, now: () => number): StepView {
  const draw = createLogUpdate(stream as NodeJS.WriteStream);
  const spinner = cliSpinners.dots;
  const steps: StepLine[] = [];
  let frame = 0;
  let closed = false;

  const width = () => Math.max(40, (stream.columns ?? 80) - 1);
  const fit = (text: string) => (text.length > width() ? `${text.slice(0, width() - 1)}…` : text);
  const render = () => {
    if (closed) return;
    const lines = steps.flatMap((step) => {
      const name = step.name.padEnd(13);
      const under = step.warnings.map((warning) => fit(`    ⚠ ${warning}`));
      if (step.status === 'running') {
        const elapsed = formatDuration(now() - step.startedAt);
        return [fit(`${spinner.frames[frame % spinner.frames.length]} ${name} ${elapsed.padStart(7)}${step.progress ? `  ${step.progress}` : ''}`), ...under];
      }
      const duration = step.durationMs !== undefined ? formatDuration(step.durationMs) : '';
      return [fit(`${SYMBOLS[step.status]} ${name} ${duration.padStart(7)}${step.note ? `  ${step.note}` : ''}`), ...under];
    });
    draw(lines.join('\n'));
  };
  const timer = setInterval(() => {
    frame += 1;
    if (steps.some((step) => step.status === 'running')) render();
  }, spinner.interval);
  // The spinner must never keep the process alive.
  timer.unref();

  liveProgressSink = (text) => {
    const running = steps.findLast((step) => step.status === 'running');
    if (!running) return;
    running.progress = text;
    render();
  };

  return {
    write(line) {
      const event = parse(line);
      if (!event || closed) return;
      const transition = stepTransition(event);
      if (transition) {
        if (transition.status === 'running') {
          steps.push({ name: transition.name, status: 'running', startedAt: now(), warnings: [] });
        } else {
          const step = steps.findLast((candidate) => candidate.name === transition.name);
          const target = step ?? { name: transition.name, status: transition.status, startedAt: now(), warnings: [] };
          if (!step) steps.push(target);
          target.status = transition.status;
          target.progress = undefined;
          if (event.durationMs !== undefined) target.durationMs = event.durationMs;
          const note = oneLine(event.error ?? event.detail ?? '');
          if (note) target.note = note;
        }
        render();
        return;
      }
      if ((event.level ?? 0) >= WARN && event.outcome === undefined) {
        const text = `${oneLine(event.msg ?? '')}${event.error ? `: ${oneLine(event.error)}` : ''}`;
        // Under the step it happened in; outside any step, printed above the live lines (drawn again below it).
        const running = steps.findLast((step) => step.status === 'running');
        if (running) running.warnings.push(text);
        else {
          draw.clear();
          stream.write(`${(event.level ?? 0) > WARN ? '✖' : '⚠'} ${text}\n`);
        }
        render();
      }
    },
    close() {
      if (closed) return;
      render();
      closed = true;
      clearInterval(timer);
      liveProgressSink = undefined;
      draw.done();
    },
  };
}

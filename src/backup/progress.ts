import type { Logger } from '../log/logger.js';
import { liveProgress } from '../log/stepView.js';

/**
 * Progress of a long job: a line redrawn in place on a terminal, plain log lines at an interval
 * elsewhere (cron mails and CI logs must not fill with carriage returns).
 */
export interface Progress {
  update(done: number): void;
  finish(): void;
}

export interface ProgressOptions {
  readonly logger: Logger;
  /** `dump`, `restore`: the first word of each line. */
  readonly label: string;
  readonly unit: 'bytes' | 'items';
  /** What `done` is measured against; for a dump an upper bound, since the archive is compressed. */
  readonly total: number | undefined;
  readonly totalIsEstimate?: boolean;
  readonly intervalMs: number;
  /** The terminal; progress is drawn on it only when it is a TTY. */
  readonly stream?: Pick<NodeJS.WriteStream, 'write'> & { readonly isTTY?: boolean };
  readonly now?: () => number;
}

const REDRAW_MS = 200;

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function startProgress(options: ProgressOptions): Progress {
  const now = options.now ?? (() => performance.now());
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const started = now();
  let last = started;
  let done = 0;
  let drawn = false;

  const amount = (value: number) => (options.unit === 'bytes' ? formatBytes(value) : String(value));
  const describe = () => {
    const elapsed = `${Math.round((now() - started) / 1000)}s`;
    if (options.total === undefined || options.total <= 0) return `${options.label}: ${amount(done)} ${options.unit === 'items' ? 'items ' : ''}done, ${elapsed}`;
    if (options.totalIsEstimate) return `${options.label}: ${amount(done)} written (estimate at most ${amount(options.total)}), ${elapsed}`;
    const percent = Math.min(100, Math.floor((done / options.total) * 100));
    return `${options.label}: ${amount(done)} of ${amount(options.total)} ${options.unit === 'items' ? 'items ' : ''}(${percent}%), ${elapsed}`;
  };

  const rate = () => {
    const seconds = (now() - started) / 1000;
    return options.unit === 'bytes' && seconds >= 1 ? `, ${formatBytes(done / seconds)}/s` : '';
  };

  return {
    update(value) {
      done = options.total !== undefined && options.unit === 'items' ? Math.min(value, options.total) : value;
      const at = now();
      if (tty) {
        if (at - last < REDRAW_MS) return;
        last = at;
        // Inside the step view, the running step's line shows it; alone, a line redrawn in place.
        const sink = liveProgress();
        if (sink) sink(`${describe()}${rate()}`);
        else stream.write(`\r\x1b[K${describe()}${rate()}`);
        drawn = sink === undefined;
      } else if (at - last >= options.intervalMs) {
        last = at;
        options.logger.info({ event: `${options.label}.progress`, done, total: options.total ?? null, unit: options.unit }, describe());
      }
    },
    finish() {
      liveProgress()?.(undefined);
      if (tty && drawn) stream.write(`\r\x1b[K${describe()}\n`);
    },
  };
}

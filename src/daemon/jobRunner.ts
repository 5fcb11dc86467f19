import { newRunId } from '../context.js';
import { OrchestrateError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { redact } from '../util/redact.js';
import type { Clock } from './scheduler.js';

export type JobName = 'retention' | 'backup' | 'pendingCheck' | 'housekeeping';

export interface JobRunContext {
  /** Fresh per execution: backups and sessions of this execution carry it. */
  readonly runId: string;
  readonly applicationName: string;
  readonly now: Date;
  readonly logger: Logger;
  /** Aborted when the daemon's grace period is over: stop, and leave nothing half-written. */
  readonly signal: AbortSignal;
}

export interface JobResult {
  /** One line for the log and /healthz. */
  readonly summary: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface Job {
  readonly name: JobName;
  run(context: JobRunContext): Promise<JobResult>;
}

export type JobOutcome = 'succeeded' | 'failed' | 'cancelled';

/** What /healthz, /metrics and the log know about one job. */
export interface JobState {
  readonly name: JobName;
  readonly schedule: string;
  readonly running: boolean;
  readonly runs: number;
  readonly failures: number;
  /** Executions stopped by a shutdown after the grace period. */
  readonly cancellations: number;
  /** Ticks that came while the previous execution was still going. */
  readonly skipped: number;
  readonly lastRunId?: string;
  readonly lastStartedAt?: Date;
  readonly lastFinishedAt?: Date;
  readonly lastDurationMs?: number;
  readonly lastOutcome?: JobOutcome;
  readonly lastError?: string;
  readonly lastSummary?: string;
  readonly lastSuccessAt?: Date;
}

export interface JobFinished {
  readonly job: JobName;
  readonly runId: string;
  readonly outcome: JobOutcome;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  readonly error?: string;
  readonly exitCode?: number;
  readonly result?: JobResult;
}

export interface JobRunnerOptions {
  readonly job: Job;
  readonly schedule: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly applicationNamePrefix: string;
  readonly onFinished?: (finished: JobFinished) => void;
}

/**
 * Runs one job on demand: never two executions of it at once, every failure caught, logged and
 * recorded, so a broken job cannot take the daemon down and the next tick still runs.
 */
export class JobRunner {
  readonly #options: JobRunnerOptions;
  #state: JobState;
  #current: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #closed = false;

  constructor(options: JobRunnerOptions) {
    this.#options = options;
    this.#state = { name: options.job.name, schedule: options.schedule, running: false, runs: 0, failures: 0, cancellations: 0, skipped: 0 };
  }

  get name(): JobName {
    return this.#options.job.name;
  }

  state(): JobState {
    return this.#state;
  }

  /** Starts an execution unless one is running or the daemon is closing; resolves when that execution ends. */
  trigger(): Promise<void> {
    const { logger, job } = this.#options;
    if (this.#closed) return Promise.resolve();
    if (this.#current) {
      this.#state = { ...this.#state, skipped: this.#state.skipped + 1 };
      logger.warn({ job: job.name, runningSince: this.#state.lastStartedAt?.toISOString() }, 'job still running from the previous tick; this tick is skipped');
      return this.#current;
    }
    this.#current = this.#execute().finally(() => {
      this.#current = undefined;
      this.#abort = undefined;
    });
    return this.#current;
  }

  /**
   * No new executions; waits up to `graceMs` for the running one, then aborts it and waits up to
   * `cleanupMs` more for it to clean up. Resolves true when nothing is left running.
   */
  async close(graceMs: number, cleanupMs: number): Promise<boolean> {
    this.#closed = true;
    const current = this.#current;
    if (!current) return true;
    if (await settlesWithin(current, graceMs)) return true;
    this.#options.logger.warn({ job: this.name, graceMs }, 'job still running at the end of the grace period; cancelling it');
    this.#abort?.abort(new Error('the daemon is shutting down'));
    return settlesWithin(current, cleanupMs);
  }

  /** Aborts the running execution now (a second signal during shutdown). */
  abort(): void {
    this.#closed = true;
    this.#abort?.abort(new Error('the daemon is shutting down'));
  }

  async #execute(): Promise<void> {
    const { job, clock, logger: parent, applicationNamePrefix, onFinished } = this.#options;
    const runId = newRunId();
    const logger = parent.child({ job: job.name, jobRunId: runId });
    const abort = new AbortController();
    this.#abort = abort;
    const startedAt = clock();
    const started = performance.now();
    this.#state = { ...this.#state, running: true, lastRunId: runId, lastStartedAt: startedAt };
    logger.info('job started');
    let finished: JobFinished;
    try {
      const result = await job.run({ runId, applicationName: `${applicationNamePrefix}${runId}`, now: startedAt, logger, signal: abort.signal });
      const durationMs = Math.round(performance.now() - started);
      finished = { job: job.name, runId, outcome: 'succeeded', startedAt, finishedAt: clock(), durationMs, result };
      logger.info({ durationMs, ...result.details }, `job succeeded: ${result.summary}`);
    } catch (error) {
      const durationMs = Math.round(performance.now() - started);
      const message = redact(errorMessage(error));
      if (abort.signal.aborted) {
        finished = { job: job.name, runId, outcome: 'cancelled', startedAt, finishedAt: clock(), durationMs, error: message };
        logger.warn({ durationMs }, `job cancelled: ${message}`);
      } else {
        const exitCode = error instanceof OrchestrateError ? error.exitCode : 1;
        finished = { job: job.name, runId, outcome: 'failed', startedAt, finishedAt: clock(), durationMs, error: message, exitCode };
        logger.error({ durationMs, error: message, exitCode }, `job failed: ${message}`);
      }
    }
    this.#record(finished);
    try {
      onFinished?.(finished);
    } catch (error) {
      logger.warn({ error: errorMessage(error) }, 'job listener failed');
    }
  }

  #record(finished: JobFinished): void {
    const previous = this.#state;
    this.#state = {
      ...previous,
      running: false,
      runs: previous.runs + 1,
      failures: previous.failures + (finished.outcome === 'failed' ? 1 : 0),
      cancellations: previous.cancellations + (finished.outcome === 'cancelled' ? 1 : 0),
      lastFinishedAt: finished.finishedAt,
      lastDurationMs: finished.durationMs,
      lastOutcome: finished.outcome,
      lastError: finished.error,
      lastSummary: finished.result?.summary,
      lastSuccessAt: finished.outcome === 'succeeded' ? finished.finishedAt : previous.lastSuccessAt,
    };
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

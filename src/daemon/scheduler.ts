import cron from 'node-cron';
import type { Logger } from '../log/logger.js';

/**
 * The daemon's only view of time. Production uses node-cron and the system clock; tests inject
 * their own so they can fire a job and move time forward without waiting for the cron expression.
 */
export interface Scheduler {
  /** Calls `tick` whenever `expression` matches, until the returned handle is stopped. */
  every(name: string, expression: string, tick: () => void): ScheduleHandle;
}

export interface ScheduleHandle {
  stop(): void;
}

export type Clock = () => Date;

export const systemClock: Clock = () => new Date();

export function cronScheduler(logger: Logger, timezone?: string): Scheduler {
  // node-cron logs through console by default; route its warnings (missed executions...) into the run log.
  const cronLogger = {
    info: (message: string) => logger.debug({ scheduler: 'node-cron' }, message),
    warn: (message: string) => logger.warn({ scheduler: 'node-cron' }, message),
    error: (message: string | Error) => logger.error({ scheduler: 'node-cron' }, String(message)),
    debug: (message: string | Error) => logger.debug({ scheduler: 'node-cron' }, String(message)),
  };
  return {
    every(name, expression, tick) {
      // Overlap is handled by JobRunner, which also counts skipped ticks; node-cron only says when.
      const task = cron.schedule(
        expression,
        () => {
          tick();
        },
        { name, logger: cronLogger, ...(timezone ? { timezone } : {}) },
      );
      return {
        stop: () => {
          void task.destroy();
        },
      };
    },
  };
}

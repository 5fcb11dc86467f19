import type { Logger } from 'pino';

/**
 * While `work` runs, SIGINT and SIGTERM do not kill the process: they abort `controller`, which stops
 * the running tool; the pipeline then rolls back, releases the lock and drops the scratch database
 * as on any failure. A second signal is logged and ignored: a half-done rollback is worse than a slow one.
 */
export async function withInterruptHandler<T>(controller: AbortController, logger: Logger, work: () => Promise<T>, stopping = 'stopping the tool, then rolling back and cleaning up'): Promise<T> {
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.warn({ signal }, 'already stopping: cleanup and rollback are still running');
      return;
    }
    logger.warn({ signal }, `interrupted: ${stopping}`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

import type { Logger } from 'pino';

/**
 * While `work` runs, SIGINT and SIGTERM do not kill the process: they abort `controller`, which stops
 * the running tool; the pipeline then rolls back, releases the lock and drops the scratch database
 * as on any failure (a restore drops its half-restored copy). `stopping` says what happens next. A
 * second signal, or one after the controller was aborted for another reason, is logged and ignored:
 * a half-done rollback or cleanup is worse than a slow one.
 */
export async function withInterruptHandler<T>(controller: AbortController, logger: Logger, work: () => Promise<T>, stopping = 'stopping the tool, then rolling back and cleaning up'): Promise<T> {
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.warn({ signal }, 'already stopping: cleanup is still running');
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

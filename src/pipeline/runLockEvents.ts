import { acquireRunLock, RunLockLostError, type RunLock } from './runLock.js';
import type { MigrationRunState } from './state.js';

/** The run lock of a migration run, watched: what a loss means depends on whether production was touched yet. */
export function takeRunLock(state: MigrationRunState): Promise<RunLock> {
  return acquireRunLock(state.target, state.names.lock, state.context.settings.pipeline.lockWaitSeconds, {
    onLost: (reason) => onRunLockLost(state, reason),
    onReacquired: (held, detail) => onRunLockReacquired(state, held, detail),
  });
}

/**
 * Before production is touched a lost lock stops the run with exit 4: another run may have taken it and
 * be about to migrate, the case exit 4 stands for (production untouched, wait and retry); exit 3 would
 * send the operator looking for a failed check. Once the production migration has started, stopping
 * the tool half-way would be worse than letting it finish (or fail and roll back): the loss is
 * reported loudly instead, the lock is taken again at once, and rollback writes only if it was.
 */
function onRunLockLost(state: MigrationRunState, reason: string): void {
  const { logger } = state.context;
  const lost = `the migration lock on database "${state.target.database}" was lost at ${new Date().toISOString()}: ${reason}`;
  if (!state.productionTouched) {
    logger.error({ event: 'lock.lost', reason }, `${lost}; stopping before production is touched`);
    state.interrupt.abort(new RunLockLostError(`${lost}; stopped before production was touched (exit 4: another run may hold it now)`));
    return;
  }
  state.lockLosses.push(lost);
  logger.error({ event: 'lock.lost', reason }, `RUN LOCK LOST during the production migration: ${lost}; letting the migration finish`);
  state.recorder.detail('runLockLost', state.lockLosses);
}

function onRunLockReacquired(state: MigrationRunState, held: boolean, detail: string): void {
  if (!state.productionTouched) return;
  const line = `the migration lock ${detail}${held ? '' : '; rollback will not write'}`;
  state.lockLosses.push(line);
  state.context.logger.error({ event: held ? 'lock.reacquired' : 'lock.not-reacquired', detail }, line);
  state.recorder.detail('runLockLost', state.lockLosses);
}

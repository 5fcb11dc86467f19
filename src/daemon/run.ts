import type { RunContext } from '../context.js';
import { registerSecret } from '../util/redact.js';
import { startDaemon, type Daemon, type StopResult } from './daemon.js';
import { cronScheduler, systemClock } from './scheduler.js';

export interface DaemonRunOptions {
  /** Overrides daemon.port. */
  readonly port?: number;
  /** The process whose signals stop the daemon (tests pass an emitter). */
  readonly signals?: Pick<NodeJS.Process, 'on' | 'off'>;
}

export interface DaemonRunResult extends StopResult {
  readonly url: string;
  readonly signal: NodeJS.Signals;
}

/**
 * Runs the daemon until SIGTERM or SIGINT, then shuts it down gracefully and returns, so the
 * command ends through the CLI's normal exit path (exit 0). A second signal cancels running jobs at once.
 */
export async function runDaemon(context: RunContext, options: DaemonRunOptions = {}): Promise<DaemonRunResult> {
  const { settings, logger } = context;
  const signals = options.signals ?? process;
  const token = process.env[settings.daemon.tokenEnv] || undefined;
  registerSecret(token);

  // Listening before anything starts: a signal that came during startup would otherwise kill the
  // process on the spot (the default action), in the middle of a job started on start-up.
  let daemon: Daemon | undefined;
  let onSignal: (received: NodeJS.Signals) => void = () => undefined;
  const hurry = () => {
    logger.warn('second signal: cancelling running jobs now');
    daemon?.hurry();
  };
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (received) => {
      signals.off('SIGTERM', onSignal);
      signals.off('SIGINT', onSignal);
      signals.on('SIGTERM', hurry);
      signals.on('SIGINT', hurry);
      resolve(received);
    };
  });
  signals.on('SIGTERM', onSignal);
  signals.on('SIGINT', onSignal);
  try {
    daemon = await startDaemon({
      settings,
      target: context.target(),
      migrator: context.migrator(),
      logger,
      applicationName: context.applicationName,
      logFile: context.logFile,
      reopenLog: context.reopenLog,
      scheduler: cronScheduler(logger, settings.daemon.timezone),
      clock: systemClock,
      ...(token ? { token } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
    });
    const signal = await stopRequested;
    logger.info({ signal }, 'shutting down');
    const result = await daemon.stop();
    logger.info({ cancelled: result.cancelled.join(',') || 'none' }, 'daemon stopped');
    return { url: daemon.url, signal, ...result };
  } finally {
    for (const listener of [onSignal, hurry]) {
      signals.off('SIGTERM', listener);
      signals.off('SIGINT', listener);
    }
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { connect } from './client.js';
import type { DbTarget } from './target.js';

export interface Poller {
  /** Resolves once connected and one sample is taken (rejects if that failed): start the watched work after it. */
  readonly ready: Promise<void>;
  /** Stops sampling and closes the connection; rejects if connecting or a sample failed. */
  stop(): Promise<void>;
}

/**
 * Runs `sample` every `intervalMs` on a connection of its own (tagged `applicationName`, so that it is
 * never mistaken for the sessions it watches) until stopped. The lock sampler and the blocker watch
 * are both this loop with a different query.
 */
export function pollOnOwnConnection(target: DbTarget, applicationName: string, intervalMs: number, sample: (client: pg.Client) => Promise<void>): Poller {
  return poll(intervalMs, sample, async (loop) => {
    const client = await connect(target, applicationName);
    try {
      await loop(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  });
}

/** The same loop on a connection the caller opened and closes; the caller leaves it alone until stop() resolves. */
export function pollOnClient(client: pg.Client, intervalMs: number, sample: (client: pg.Client) => Promise<void>): Poller {
  return poll(intervalMs, sample, (loop) => loop(client));
}

function poll(intervalMs: number, sample: (client: pg.Client) => Promise<void>, onConnection: (loop: (client: pg.Client) => Promise<void>) => Promise<void>): Poller {
  const stopping = new AbortController();
  let signalReady: () => void = () => undefined;
  const firstSample = new Promise<void>((resolve) => {
    signalReady = resolve;
  });
  const running = onConnection(async (client) => {
    while (!stopping.signal.aborted) {
      const at = performance.now();
      await sample(client);
      signalReady();
      const wait = intervalMs - (performance.now() - at);
      if (wait > 0) await sleep(wait, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  });
  // A failure is reported by stop() and ready; until someone asks, it must not be an unhandled rejection.
  running.catch(() => undefined);
  const ready = Promise.race([firstSample, running]).then(() => undefined);
  ready.catch(() => undefined);
  return {
    ready,
    async stop() {
      stopping.abort();
      await running;
    },
  };
}

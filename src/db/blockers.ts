import type pg from 'pg';
import { redact } from '../util/redact.js';
import { pollOnOwnConnection } from './poller.js';
import { serverApplicationName } from './sessions.js';
import type { DbTarget } from './target.js';

/** A session that holds (or queues ahead for) a lock that one of the run's sessions waits for. */
export interface Blocker {
  readonly pid: number;
  readonly user: string;
  readonly applicationName: string;
  /** Client address, or "local" for a Unix-socket session. */
  readonly clientAddress: string;
  readonly state: string;
  /** Seconds its transaction had been open when last seen; null outside a transaction. */
  readonly xactAgeSeconds: number | null;
  /** The first 200 characters of its current or last statement. */
  readonly query: string;
  /** How long the run's session was seen waiting behind it, in ms (sampled). */
  readonly blockedMs: number;
}

interface BlockerRow {
  pid: number;
  usename: string;
  application_name: string;
  client_addr: string | null;
  state: string;
  xact_age: number | null;
  query: string;
}

const QUERY_CHARS = 200;

/**
 * pg_blocking_pids of every backend tagged `applicationName` (as the server stores it), with what
 * pg_stat_activity says of each blocker. Works across databases: pg_stat_activity is server-wide.
 */
const BLOCKERS_SQL = `
SELECT DISTINCT b.pid, coalesce(b.usename::text, '') AS usename, coalesce(b.application_name, '') AS application_name,
       host(b.client_addr) AS client_addr, coalesce(b.state, '') AS state,
       extract(epoch FROM pg_catalog.clock_timestamp() - b.xact_start)::float8 AS xact_age,
       left(coalesce(b.query, ''), ${QUERY_CHARS}) AS query
  FROM pg_catalog.pg_stat_activity w
 CROSS JOIN LATERAL unnest(pg_catalog.pg_blocking_pids(w.pid)) AS blocking(pid)
  JOIN pg_catalog.pg_stat_activity b ON b.pid = blocking.pid
 WHERE w.application_name = $1 AND w.pid <> pg_catalog.pg_backend_pid()`;

export async function currentBlockers(client: pg.Client, applicationName: string): Promise<Omit<Blocker, 'blockedMs'>[]> {
  // pg_stat_activity is cached for the rest of a transaction: drop the cache so polls see changes.
  await client.query('SELECT pg_catalog.pg_stat_clear_snapshot()');
  const result = await client.query<BlockerRow>(BLOCKERS_SQL, [serverApplicationName(applicationName)]);
  return result.rows.map((row) => ({
    pid: row.pid,
    user: row.usename,
    applicationName: row.application_name,
    clientAddress: row.client_addr ?? 'local',
    state: row.state,
    xactAgeSeconds: row.xact_age === null ? null : Math.round(row.xact_age),
    // A blocker's statement may carry a secret (ALTER ROLE ... PASSWORD '...'), and it goes into reports.
    query: redact(row.query).replace(/(\bpassword\s+)'(?:[^']|'')*'/gi, "$1'*****'"),
  }));
}

export interface BlockerWatch {
  /** Resolves once the watch is connected and has looked once: start the work after it. */
  readonly ready: Promise<void>;
  /** Stops watching and returns every blocker seen, longest-blocking first. Never rejects: a watch that failed saw nothing. */
  stop(): Promise<Blocker[]>;
}

/**
 * Polls, on a connection of its own, who blocks the sessions tagged `applicationName`, so that a lock
 * timeout can be explained ("blocked by pid 4242 ..."). pg_blocking_pids takes the lock manager's
 * partition locks briefly, so the default period (100 ms) is gentler than the rehearsal's lock sampler.
 */
export function startBlockerWatch(target: DbTarget, applicationName: string, options: { intervalMs?: number; watcherApplicationName?: string } = {}): BlockerWatch {
  const seen = new Map<number, Blocker>();
  let previous = performance.now();
  const poller = pollOnOwnConnection(target, options.watcherApplicationName ?? `${applicationName}/blockers`, options.intervalMs ?? 100, async (client) => {
    const at = performance.now();
    for (const blocker of await currentBlockers(client, applicationName)) {
      const earlier = seen.get(blocker.pid);
      seen.set(blocker.pid, { ...blocker, blockedMs: Math.round((earlier?.blockedMs ?? 0) + (at - previous)) });
    }
    previous = at;
  });
  return {
    // Naming a blocker is a courtesy: a watch that cannot connect must not hold up or fail the migration.
    ready: poller.ready.catch(() => undefined),
    async stop() {
      await poller.stop().catch(() => undefined);
      return [...seen.values()].sort((a, b) => b.blockedMs - a.blockedMs || a.pid - b.pid);
    },
  };
}

/** "pid 4242 (analytics, 'SELECT ... FROM orders', in transaction for 38 s)" */
export function describeBlocker(blocker: Blocker): string {
  const query = blocker.query.replace(/\s+/g, ' ').trim();
  const shown = query.length > 80 ? `${query.slice(0, 77)}...` : query;
  const who = blocker.applicationName || blocker.user || 'unnamed session';
  const parts = [who, `user ${blocker.user}`, blocker.clientAddress === 'local' ? 'local socket' : `from ${blocker.clientAddress}`];
  if (shown) parts.push(`'${shown}'`);
  parts.push(blocker.xactAgeSeconds !== null ? `${blocker.state || 'active'}, in transaction for ${blocker.xactAgeSeconds} s` : blocker.state || 'active');
  return `pid ${blocker.pid} (${parts.join(', ')})`;
}

import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/** One server backend as pg_stat_activity shows it. */
export interface SessionInfo {
  readonly pid: number;
  readonly applicationName: string;
  readonly user: string;
  readonly database: string;
  /** active, idle, idle in transaction, idle in transaction (aborted), ... */
  readonly state: string;
  /** Seconds since the open transaction began; null outside a transaction. */
  readonly xactAgeSeconds: number | null;
  /** Seconds since the state last changed (for an active backend: how long its statement has run). */
  readonly stateAgeSeconds: number | null;
  /** The current or last statement; "<insufficient privilege>" for other users' sessions unless we may read them. */
  readonly query: string;
  /** "type:event" (e.g. "Lock:relation") while waiting, else null. */
  readonly waitEvent: string | null;
  readonly backendStart: string;
  readonly xactStart: string | null;
  readonly stateChange: string | null;
}

/** A row selected with SESSION_COLUMNS. */
export interface SessionRow {
  pid: number;
  application_name: string;
  usename: string;
  datname: string;
  state: string;
  xact_age: number | null;
  state_age: number | null;
  query: string;
  wait_event: string | null;
  backend_start: Date;
  xact_start: Date | null;
  state_change: Date | null;
}

/** Columns of pg_stat_activity (alias `a`) that make a SessionInfo. */
export const SESSION_COLUMNS = `a.pid, coalesce(a.application_name, '') AS application_name, coalesce(a.usename::text, '') AS usename,
  coalesce(a.datname::text, '') AS datname, coalesce(a.state, '') AS state,
  extract(epoch FROM pg_catalog.clock_timestamp() - a.xact_start)::float8 AS xact_age,
  extract(epoch FROM pg_catalog.clock_timestamp() - a.state_change)::float8 AS state_age,
  coalesce(a.query, '') AS query,
  CASE WHEN a.wait_event IS NOT NULL THEN a.wait_event_type || ':' || a.wait_event END AS wait_event,
  a.backend_start, a.xact_start, a.state_change`;

const iso = (value: Date | null): string | null => (value === null ? null : value.toISOString());
const seconds = (value: number | null): number | null => (value === null ? null : Math.round(value * 1000) / 1000);

export function toSessionInfo(row: SessionRow): SessionInfo {
  return {
    pid: row.pid,
    applicationName: row.application_name,
    user: row.usename,
    database: row.datname,
    state: row.state,
    xactAgeSeconds: seconds(row.xact_age),
    stateAgeSeconds: seconds(row.state_age),
    query: row.query,
    waitEvent: row.wait_event,
    backendStart: row.backend_start.toISOString(),
    xactStart: iso(row.xact_start),
    stateChange: iso(row.state_change),
  };
}

async function sessions(client: pg.Client, where: string, params: unknown[]): Promise<SessionInfo[]> {
  // pg_stat_activity is cached for the rest of a transaction: drop the cache so polls see changes.
  await client.query('SELECT pg_catalog.pg_stat_clear_snapshot()');
  const result = await client.query<SessionRow>(
    `SELECT ${SESSION_COLUMNS} FROM pg_catalog.pg_stat_activity a
      WHERE a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid() AND (${where})
      ORDER BY a.xact_start NULLS LAST, a.pid`,
    params,
  );
  return result.rows.map(toSessionInfo);
}

/**
 * Other sessions on the connected database with a transaction open for at least `minAgeSeconds`,
 * idle in transaction included, oldest first: they hold locks that would block a migration's DDL.
 */
export async function longTransactions(client: pg.Client, minAgeSeconds: number): Promise<SessionInfo[]> {
  return sessions(client, `a.datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) AND a.xact_start <= pg_catalog.clock_timestamp() - make_interval(secs => $1)`, [minAgeSeconds]);
}

/**
 * The server keeps at most NAMEDATALEN-1 = 63 bytes of an application_name. It also rewrites bytes
 * outside printable ASCII (as '?' up to 15, as \xNN from 16), which this does not mimic: tag
 * sessions with printable ASCII names, as run names are.
 */
const MAX_APPLICATION_NAME_BYTES = 63;

/** `name` as the server stores it: cut to 63 bytes without splitting a character. */
export function serverApplicationName(name: string): string {
  let bytes = 0;
  let cut = '';
  for (const char of name) {
    bytes += Buffer.byteLength(char);
    if (bytes > MAX_APPLICATION_NAME_BYTES) break;
    cut += char;
  }
  return cut;
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/**
 * Backends on the whole server (every database: a run also works in its scratch copy) whose
 * application_name is `applicationName`, compared as the server stores it (63 bytes). A trailing '%'
 * makes it a prefix match ("orchestrate/%": every run's sessions); no other character is special.
 * Never includes the caller's own backend.
 */
export async function backendsByApplicationName(client: pg.Client, applicationName: string): Promise<SessionInfo[]> {
  if (applicationName.endsWith('%')) {
    const prefix = serverApplicationName(applicationName.slice(0, -1));
    return sessions(client, `a.application_name LIKE $1`, [`${escapeLike(prefix)}%`]);
  }
  return sessions(client, `a.application_name = $1`, [serverApplicationName(applicationName)]);
}

export interface StopOptions {
  /** Backends to leave alone besides the caller's own (e.g. the run's lock connection, which shares its tag). */
  readonly sparePids?: readonly number[];
  /** The longest pause between two looks while waiting. Default 100 ms. */
  readonly pollMs?: number;
}

export interface StopResult {
  /** Backends that were running a statement and were sent a cancel. */
  readonly cancelled: number[];
  /** Backends still there after the grace period (or idle from the start), terminated. */
  readonly terminated: number[];
}

/**
 * Stops a run's server-side work. Killing a client does not stop its statement: the backend runs on
 * and keeps its locks. So: pg_cancel_backend every backend tagged `applicationName` (matched as in
 * backendsByApplicationName) that is running something; wait up to `graceMs` for all of them to be
 * gone or idle; then pg_terminate_backend every one still there (idle included: a stopped run's
 * session has nothing left to do, and "idle in transaction" still holds locks), and wait for those
 * to exit. Never touches the caller's own backend or `sparePids`.
 */
export async function stopBackends(client: pg.Client, applicationName: string, graceMs = 5_000, options: StopOptions = {}): Promise<StopResult> {
  const spare = new Set(options.sparePids ?? []);
  const pollMs = options.pollMs ?? 100;
  const tagged = async () => (await backendsByApplicationName(client, applicationName)).filter((session) => !spare.has(session.pid));
  const cancelled: number[] = [];
  for (const session of await tagged()) {
    if (session.state === 'idle' || session.state === 'idle in transaction' || session.state === 'idle in transaction (aborted)') continue;
    const result = await client.query<{ ok: boolean }>('SELECT pg_catalog.pg_cancel_backend($1) AS ok', [session.pid]);
    if (result.rows[0]?.ok) cancelled.push(session.pid);
  }
  const deadline = performance.now() + graceMs;
  let remaining = await tagged();
  for (let look = 0; remaining.some((session) => session.state !== 'idle') && performance.now() < deadline; look += 1) {
    await sleep(pause(look, pollMs));
    remaining = await tagged();
  }
  const terminated: number[] = [];
  // A client still alive may reconnect while we work: a few rounds catch those too.
  for (let round = 0; round < 3 && remaining.length > 0; round += 1) {
    for (const session of remaining) {
      const result = await client.query<{ ok: boolean }>('SELECT pg_catalog.pg_terminate_backend($1) AS ok', [session.pid]);
      if (result.rows[0]?.ok && !terminated.includes(session.pid)) terminated.push(session.pid);
    }
    remaining = await waitUntilGone(tagged, new Set(remaining.map((session) => session.pid)), pollMs);
  }
  return { cancelled, terminated };
}

/**
 * The pause before the next look: 5 ms, doubling up to `pollMs`. A cancelled or terminated backend
 * usually goes within milliseconds, and a rollback waits on this before it can go on; one that takes
 * longer is looked at no more often than `pollMs`.
 */
function pause(look: number, pollMs: number): number {
  return Math.min(pollMs, 5 * 2 ** look);
}

/** Polls until none of `pids` is listed any more (a terminated backend takes a moment to exit); returns the tagged backends then. */
async function waitUntilGone(list: () => Promise<SessionInfo[]>, pids: ReadonlySet<number>, pollMs: number): Promise<SessionInfo[]> {
  const deadline = performance.now() + 5_000;
  let current = await list();
  for (let look = 0; current.some((session) => pids.has(session.pid)) && performance.now() < deadline; look += 1) {
    await sleep(pause(look, pollMs));
    current = await list();
  }
  return current.filter((session) => !pids.has(session.pid));
}

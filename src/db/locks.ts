import type pg from 'pg';
import { pollOnOwnConnection } from './poller.js';
import { SESSION_COLUMNS, serverApplicationName, toSessionInfo, type SessionInfo, type SessionRow } from './sessions.js';
import type { DbTarget } from './target.js';
import { notExtensionMember, qualifiedName, userSchemaCondition } from './userSchemas.js';

/** Table lock modes, weakest first (the order of the conflict table in the PostgreSQL manual). */
export const LOCK_MODES = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
] as const;
export type LockMode = (typeof LOCK_MODES)[number];

const STRENGTH = new Map<string, number>(LOCK_MODES.map((mode, index) => [mode, index]));

function isLockMode(mode: string): mode is LockMode {
  return STRENGTH.has(mode);
}

export interface TableLockTrace {
  /** "schema.table". */
  readonly table: string;
  /** The strongest mode seen granted; when none was ever granted, the strongest mode seen waited for. */
  readonly strongestMode: LockMode;
  /** How long `strongestMode` was observed held (or, when `granted` is false, waited for), in ms. */
  readonly strongestHeldMs: number;
  /** First and last sample that saw any lock on the table, in ms since the sampler started. */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** Whether `strongestMode` was ever granted (false: the sampled backends only queued for it). */
  readonly granted: boolean;
  /** Observed time held per mode, in ms. */
  readonly heldMsByMode: Readonly<Partial<Record<LockMode, number>>>;
  /** Observed time spent waiting for any lock on the table, in ms. */
  readonly waitedMs: number;
}

export interface LockSamplerOptions {
  /** Sampling period. Default 25 ms: a lock held for less than that may be missed. */
  readonly intervalMs?: number;
  /** application_name of the sampler's own session. Default `<applicationName>/lock-sampler`. */
  readonly samplerApplicationName?: string;
}

export interface LockSampler {
  /** Resolves once the sampler is connected and has taken its first sample: start the work after it. */
  readonly ready: Promise<void>;
  /** Stops sampling, closes the connection and returns one trace per table seen, strongest and longest first. */
  stop(): Promise<TableLockTrace[]>;
}

interface LockRow {
  schema: string;
  table: string;
  mode: string;
  granted: boolean;
}

/**
 * Relation locks held or awaited by the backends tagged with the application_name, resolved to
 * their table: a lock on an index counts as a lock on its table (ACCESS EXCLUSIVE on an index blocks
 * every query that would plan with it, i.e. the table's readers). Only user tables, partitioned,
 * foreign and materialized included; sequences, views, catalogs and TOAST are left out.
 */
const SAMPLE_SQL = `
SELECT n.nspname AS schema, c.relname AS table, l.mode, l.granted
  FROM pg_catalog.pg_locks l
  JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
  LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = l.relation
  JOIN pg_catalog.pg_class c ON c.oid = coalesce(i.indrelid, l.relation)
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE l.locktype = 'relation'
   AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
   AND a.application_name = $1
   AND l.pid <> pg_catalog.pg_backend_pid()
   AND c.relkind IN ('r', 'p', 'f', 'm')
   AND ${userSchemaCondition('n')}`;

class TraceBuilder {
  readonly #tables = new Map<string, { first: number; last: number; held: Map<LockMode, number>; waited: Map<LockMode, number>; waitedTotal: number }>();

  /** One sample at `atMs`, standing for the `spanMs` since the previous one. */
  add(atMs: number, spanMs: number, rows: readonly LockRow[]): void {
    const seen = new Map<string, { held: Set<LockMode>; waited: Set<LockMode> }>();
    for (const row of rows) {
      if (!isLockMode(row.mode)) continue;
      const table = qualifiedName(row.schema, row.table);
      const modes = seen.get(table) ?? { held: new Set<LockMode>(), waited: new Set<LockMode>() };
      (row.granted ? modes.held : modes.waited).add(row.mode);
      seen.set(table, modes);
    }
    for (const [table, modes] of seen) {
      const trace = this.#tables.get(table) ?? { first: atMs, last: atMs, held: new Map<LockMode, number>(), waited: new Map<LockMode, number>(), waitedTotal: 0 };
      trace.last = atMs;
      if (modes.waited.size > 0) trace.waitedTotal += spanMs;
      for (const mode of modes.held) trace.held.set(mode, (trace.held.get(mode) ?? 0) + spanMs);
      for (const mode of modes.waited) trace.waited.set(mode, (trace.waited.get(mode) ?? 0) + spanMs);
      this.#tables.set(table, trace);
    }
  }

  traces(): TableLockTrace[] {
    const strongest = (modes: Map<LockMode, number>) => [...modes.keys()].sort((a, b) => (STRENGTH.get(b) ?? 0) - (STRENGTH.get(a) ?? 0))[0];
    const list: TableLockTrace[] = [];
    for (const [table, trace] of this.#tables) {
      const held = strongest(trace.held);
      const mode = held ?? strongest(trace.waited);
      if (mode === undefined) continue;
      list.push({
        table,
        strongestMode: mode,
        strongestHeldMs: Math.round((held ? trace.held.get(mode) : trace.waited.get(mode)) ?? 0),
        firstSeenMs: Math.round(trace.first),
        lastSeenMs: Math.round(trace.last),
        granted: held !== undefined,
        heldMsByMode: Object.fromEntries([...trace.held].map(([m, ms]) => [m, Math.round(ms)])),
        waitedMs: Math.round(trace.waitedTotal),
      });
    }
    return list.sort((a, b) => (STRENGTH.get(b.strongestMode) ?? 0) - (STRENGTH.get(a.strongestMode) ?? 0) || b.strongestHeldMs - a.strongestHeldMs || (a.table < b.table ? -1 : 1));
  }
}

/**
 * Samples pg_locks every `intervalMs` on a connection of its own, for the backends whose
 * application_name equals `applicationName`, in the database of `target` (locks in other databases
 * cannot be resolved to table names). Each sample stands for the time since the previous one, so a
 * held time is accurate to about one interval per stretch. pg_locks briefly takes every lock-manager
 * partition lock: sample a rehearsal, not a busy production server, at this rate.
 * stop() rejects if the sampler could not connect or a sample failed.
 */
export function startLockSampler(target: DbTarget, applicationName: string, options: LockSamplerOptions = {}): LockSampler {
  const intervalMs = options.intervalMs ?? 25;
  const startedAt = performance.now();
  const builder = new TraceBuilder();
  const tag = serverApplicationName(applicationName);
  let previous = performance.now() - intervalMs;
  const poller = pollOnOwnConnection(target, options.samplerApplicationName ?? `${applicationName}/lock-sampler`, intervalMs, async (client) => {
    const at = performance.now();
    const result = await client.query<LockRow>(SAMPLE_SQL, [tag]);
    builder.add(at - startedAt, at - previous, result.rows);
    previous = at;
  });
  return {
    ready: poller.ready,
    async stop() {
      await poller.stop();
      return builder.traces();
    },
  };
}

/** "schema.table" -> pg_relation_filenode, for tables and materialized views (the relations that have storage). */
export async function relationFileNodes(client: pg.Client): Promise<Record<string, number>> {
  const result = await client.query<{ schema: string; name: string; filenode: number | null }>(
    `SELECT n.nspname AS schema, c.relname AS name, pg_catalog.pg_relation_filenode(c.oid)::int8::float8 AS filenode
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'm') AND ${userSchemaCondition('n')} AND ${notExtensionMember('pg_class', 'c.oid')}`,
  );
  return Object.fromEntries(result.rows.filter((row) => row.filenode !== null).map((row) => [qualifiedName(row.schema, row.name), Number(row.filenode)]));
}

/**
 * Tables present before and after whose storage file changed: rewritten (ALTER COLUMN TYPE, a
 * volatile DEFAULT, VACUUM FULL, CLUSTER) or truncated. Tables created or dropped in between are not listed.
 */
export function rewrittenTables(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): string[] {
  return Object.keys(after)
    .filter((table) => before[table] !== undefined && before[table] !== after[table])
    .sort();
}

export interface AdvisoryLockHolder extends SessionInfo {
  /**
   * The earliest the lock can have been taken: the holder's backend start (PostgreSQL does not record
   * when a granted lock was acquired; a run takes its lock right after connecting).
   */
  readonly since: string;
}

/** The two 32-bit halves pg_locks shows for a single-bigint advisory key (classid = high, objid = low, objsubid = 1). */
export function advisoryLockKeyParts(key: bigint | number): { classid: string; objid: string } {
  const unsigned = BigInt.asUintN(64, BigInt(key));
  return { classid: String(unsigned >> 32n), objid: String(unsigned & 0xffffffffn) };
}

/** Who holds the session advisory lock `key` (pg_try_advisory_lock(bigint)) on the connected database, if anyone. */
export async function advisoryLockHolder(client: pg.Client, key: bigint | number): Promise<AdvisoryLockHolder | undefined> {
  const { classid, objid } = advisoryLockKeyParts(key);
  await client.query('SELECT pg_catalog.pg_stat_clear_snapshot()');
  const result = await client.query<SessionRow>(
    `SELECT ${SESSION_COLUMNS}
       FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = $1::oid AND l.objid = $2::oid
        AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
      LIMIT 1`,
    [classid, objid],
  );
  const row = result.rows[0];
  if (!row) return undefined;
  const session = toSessionInfo(row);
  return { ...session, since: session.backendStart };
}

import type pg from 'pg';
import type { Settings } from '../config/settings.js';
import { LOCK_MODES } from '../db/locks.js';
import { longTransactions, serverApplicationName, type SessionInfo } from '../db/sessions.js';
import { qualifiedName, userSchemaCondition } from '../db/userSchemas.js';
import { splitTableName, type CheckResult } from '../validation/checks.js';
import { counted, formatAge, listed, pass, result } from './result.js';

/** A session that would block DDL, with the tables it holds locks on. */
export interface BlockingSession extends SessionInfo {
  /** "schema.table" -> the strongest lock mode the session holds on it. */
  readonly locks: Readonly<Record<string, string>>;
}

export interface BlockingSessions {
  /** Transactions open at least pipeline.longTransactionSeconds, not counting those in `idle`. */
  readonly long: readonly BlockingSession[];
  /** Sessions idle inside a transaction for at least preflight.idleInTransactionSeconds. */
  readonly idle: readonly BlockingSession[];
  /** Other roles' sessions whose state this role may not see (without pg_read_all_stats). */
  readonly hidden: number;
}

const isIdleInTransaction = (session: SessionInfo) => session.state.startsWith('idle in transaction');

const STRENGTH = new Map<string, number>(LOCK_MODES.map((mode, index) => [mode, index]));

/** Relation locks the sessions hold in this database, resolved to their tables (an index lock counts for its table). */
async function heldLocks(client: pg.Client, pids: readonly number[]): Promise<Map<number, Record<string, string>>> {
  const byPid = new Map<number, Record<string, string>>();
  if (pids.length === 0) return byPid;
  const { rows } = await client.query<{ pid: number; schema: string; table: string; mode: string }>(
    `SELECT l.pid, n.nspname AS schema, c.relname AS table, l.mode
       FROM pg_catalog.pg_locks l
       LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = l.relation
       JOIN pg_catalog.pg_class c ON c.oid = coalesce(i.indrelid, l.relation)
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE l.locktype = 'relation' AND l.granted AND l.pid = ANY($1::int[])
        AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
        AND c.relkind IN ('r', 'p', 'f', 'm') AND ${userSchemaCondition('n')}`,
    [pids],
  );
  for (const row of rows) {
    const tables = byPid.get(row.pid) ?? {};
    const table = qualifiedName(row.schema, row.table);
    const held = tables[table];
    if (held === undefined || (STRENGTH.get(row.mode) ?? -1) > (STRENGTH.get(held) ?? -1)) tables[table] = row.mode;
    byPid.set(row.pid, tables);
  }
  return byPid;
}

/**
 * Other sessions on the target database that would block a migration's DDL: idle in a transaction
 * for preflight.idleInTransactionSeconds or more, or inside a transaction open for
 * pipeline.longTransactionSeconds or more. Sessions tagged `ownApplicationName` are the caller's own.
 */
export async function blockingSessions(client: pg.Client, settings: Settings, ownApplicationName: string): Promise<BlockingSessions> {
  const own = serverApplicationName(ownApplicationName);
  const open = (await longTransactions(client, 0)).filter((session) => session.applicationName !== own);
  const idle = open.filter((session) => isIdleInTransaction(session) && (session.stateAgeSeconds ?? 0) >= settings.preflight.idleInTransactionSeconds);
  const idlePids = new Set(idle.map((session) => session.pid));
  const long = open.filter((session) => !idlePids.has(session.pid) && (session.xactAgeSeconds ?? 0) >= settings.pipeline.longTransactionSeconds);
  const locks = await heldLocks(client, [...idle, ...long].map((session) => session.pid));
  const withLocks = (session: SessionInfo): BlockingSession => ({ ...session, locks: locks.get(session.pid) ?? {} });
  // Without pg_read_all_stats, other roles' backends show no state (nor backend_type): count them, unseen.
  const hidden = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity a
      WHERE a.datname = pg_catalog.current_database() AND a.pid <> pg_catalog.pg_backend_pid() AND a.state IS NULL AND a.usename IS NOT NULL`,
  );
  return { long: long.map(withLocks), idle: idle.map(withLocks), hidden: hidden.rows[0]?.n ?? 0 };
}

function describeSession(session: BlockingSession, altered: ReadonlySet<string>): string {
  const parts = [`application "${session.applicationName}"`, `user ${session.user}`];
  if (isIdleInTransaction(session)) parts.push(`${session.state} for ${formatAge(session.stateAgeSeconds ?? 0)}`, `transaction open ${formatAge(session.xactAgeSeconds ?? 0)}`);
  else parts.push(`${session.state || 'state unknown'}`, `transaction open ${formatAge(session.xactAgeSeconds ?? 0)}`);
  if (session.waitEvent) parts.push(`waiting on ${session.waitEvent}`);
  const tables = Object.entries(session.locks).map(([table, mode]) => `${table} (${mode}${altered.has(table) ? ', altered by the migration' : ''})`);
  if (tables.length > 0) parts.push(`locks ${tables.join(', ')}`);
  return `pid ${session.pid} (${parts.join(', ')})`;
}

function hiddenNote(hidden: number): string {
  return hidden > 0 ? `; ${counted(hidden, 'session')} of other roles could not be inspected (grant pg_read_all_stats to see them)` : '';
}

/** The two sessions checks: listed sessions are a warning by default (preflight.blockingSessions). */
export function sessionChecks(found: BlockingSessions, settings: Settings, tablesToAlter: readonly string[] | undefined): [CheckResult, CheckResult] {
  const severity = settings.preflight.blockingSessions;
  const altered = new Set((tablesToAlter ?? []).map((table) => qualifiedName(...splitTableName(table))));
  const note = hiddenNote(found.hidden);
  const why = 'they hold locks that DDL waits for, and DDL waiting blocks every later query on its table; end them or wait, then rerun';

  const longName = 'sessions:long-transactions';
  const longLimit = settings.pipeline.longTransactionSeconds;
  const long =
    found.long.length === 0
      ? found.hidden > 0
        ? result(longName, 'warn', `no visible transaction open ${longLimit} s or longer${note}`)
        : pass(longName, `no transaction open ${longLimit} s or longer`)
      : result(longName, severity, `${counted(found.long.length, 'transaction')} open ${longLimit} s or longer: ${listed(found.long.map((session) => describeSession(session, altered)))}; ${why}${note}`);

  const idleName = 'sessions:idle-in-transaction';
  const idleLimit = settings.preflight.idleInTransactionSeconds;
  const idle =
    found.idle.length === 0
      ? found.hidden > 0
        ? result(idleName, 'warn', `no visible session idle in a transaction for ${idleLimit} s or longer${note}`)
        : pass(idleName, `no session idle in a transaction for ${idleLimit} s or longer`)
      : result(idleName, severity, `${counted(found.idle.length, 'session')} idle in a transaction for ${idleLimit} s or longer: ${listed(found.idle.map((session) => describeSession(session, altered)))}; ${why}${note}`);
  return [long, idle];
}

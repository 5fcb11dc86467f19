import type pg from 'pg';
import { quoteIdent } from '../db/client.js';
import { notExtensionMember, qualifiedName, userSchemaCondition } from '../db/userSchemas.js';
import { inReadOnlyTransaction } from './transaction.js';

/** User tables of the connected database (ordinary tables and partitions: the ones that hold rows). */
async function userTables(client: pg.Client): Promise<{ schema: string; name: string }[]> {
  const result = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND ${userSchemaCondition('n')} AND ${notExtensionMember('pg_class', 'c.oid')}
      ORDER BY 1, 2`,
  );
  return result.rows;
}

/**
 * "schema.table" -> estimated row count, from the catalogs (no scan): pg_class.reltuples, or the
 * statistics' n_live_tup for a table never vacuumed or analysed (reltuples = -1). A partitioned table
 * gets the sum of its leaf partitions.
 */
export async function tableRowEstimates(client: pg.Client): Promise<Record<string, number>> {
  const result = await client.query<{ schema: string; name: string; estimate: number }>(
    `WITH estimates AS (
       SELECT c.oid, CASE WHEN c.reltuples >= 0 THEN c.reltuples::float8 ELSE coalesce(pg_catalog.pg_stat_get_live_tuples(c.oid), 0)::float8 END AS estimate
         FROM pg_catalog.pg_class c WHERE c.relkind = 'r'
     )
     SELECT n.nspname AS schema, c.relname AS name,
            CASE WHEN c.relkind = 'p'
                 THEN (SELECT coalesce(sum(e.estimate), 0) FROM pg_catalog.pg_partition_tree(c.oid) t JOIN estimates e ON e.oid = t.relid WHERE t.isleaf)
                 ELSE (SELECT e.estimate FROM estimates e WHERE e.oid = c.oid) END::float8 AS estimate
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${userSchemaCondition('n')} AND ${notExtensionMember('pg_class', 'c.oid')}`,
  );
  return Object.fromEntries(result.rows.map((row) => [qualifiedName(row.schema, row.name), Math.round(row.estimate)]));
}

/** "schema.table" -> count(*), every user table read in one snapshot. Scans every table: small and medium databases only. */
export async function exactRowCounts(client: pg.Client): Promise<Record<string, number>> {
  return inReadOnlyTransaction(client, { repeatableRead: true }, async () => {
    const counts: Record<string, number> = {};
    for (const table of await userTables(client)) {
      const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${quoteIdent(table.schema)}.${quoteIdent(table.name)}`);
      counts[qualifiedName(table.schema, table.name)] = Number(result.rows[0]?.n ?? 0);
    }
    return counts;
  });
}

export interface TableChecksum {
  readonly rows: number;
  readonly md5: string;
}

/**
 * Output settings that change how a row prints: fixed, so checksums taken from sessions with
 * different settings (or on another server) compare equal.
 */
const CANONICAL_OUTPUT: Readonly<Record<string, string>> = {
  search_path: 'pg_catalog',
  DateStyle: 'ISO, YMD',
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  extra_float_digits: '1',
  bytea_output: 'hex',
};

/**
 * "schema.table" -> row count and an order-independent checksum of the content, all tables in one
 * snapshot. Each row is hashed as jsonb (keys sorted by column name, so the column order does not
 * matter, the names and values do); the per-row md5s are summed as two 64-bit halves, so equal
 * multisets of rows give equal checksums in any physical order. Scans every table.
 */
export async function tableContentChecksums(client: pg.Client): Promise<Record<string, TableChecksum>> {
  return inReadOnlyTransaction(client, { repeatableRead: true, settings: CANONICAL_OUTPUT }, async () => {
    const checksums: Record<string, TableChecksum> = {};
    for (const table of await userTables(client)) {
      const result = await client.query<{ n: string; md5: string }>(
        `SELECT count(*) AS n,
                md5(coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0)::text || ':' || coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0)::text) AS md5
           FROM (SELECT md5(to_jsonb(t)::text) AS h FROM ONLY ${quoteIdent(table.schema)}.${quoteIdent(table.name)} t) rows`,
      );
      const row = result.rows[0];
      checksums[qualifiedName(table.schema, table.name)] = { rows: Number(row?.n ?? 0), md5: row?.md5 ?? '' };
    }
    return checksums;
  });
}

export interface TableActivity {
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
}

/**
 * "schema.table" -> cumulative rows inserted, updated and deleted since the statistics were last
 * reset (pg_stat_user_tables n_tup_ins/upd/del; committed and rolled-back work alike).
 *
 * The counters lag. Since PostgreSQL 15 each backend flushes its pending counts to shared memory at
 * most once a second while busy, and an idle backend up to 10 s after its last transaction
 * (PGSTAT_IDLE_INTERVAL); a backend that exits flushes at once. Before 15 the stats collector adds
 * about half a second. pg_stat_force_next_flush() exists in 15 but only speeds up the calling
 * backend's own counts, not the application's sessions. What this function can do on the reading
 * side, it does: pg_stat_clear_snapshot() so a transaction-cached snapshot is never returned.
 * Treat a delta as "at least" this many rows, or poll until it settles.
 */
export async function tableActivity(client: pg.Client): Promise<Record<string, TableActivity>> {
  await client.query('SELECT pg_catalog.pg_stat_clear_snapshot()');
  const result = await client.query<{ schema: string; name: string; ins: string; upd: string; del: string }>(
    `SELECT s.schemaname AS schema, s.relname AS name, s.n_tup_ins AS ins, s.n_tup_upd AS upd, s.n_tup_del AS del
       FROM pg_catalog.pg_stat_user_tables s JOIN pg_catalog.pg_class c ON c.oid = s.relid
      WHERE c.relkind = 'r'`,
  );
  return Object.fromEntries(result.rows.map((row) => [qualifiedName(row.schema, row.name), { inserted: Number(row.ins), updated: Number(row.upd), deleted: Number(row.del) }]));
}

/**
 * Rows changed since `before`: the data-loss window of restoring a backup taken at `before`.
 * A table new since `before` counts from zero; a counter lower than before means the statistics were
 * reset (pg_stat_reset, crash recovery), so the later value is the best lower bound. Tables with no
 * change are left out; tables dropped since `before` are not in `after` and cannot be measured.
 */
export function activityDelta(before: Readonly<Record<string, TableActivity>>, after: Readonly<Record<string, TableActivity>>): Record<string, TableActivity> {
  const delta: Record<string, TableActivity> = {};
  const since = (now: number, then: number | undefined) => (then === undefined || now < then ? now : now - then);
  for (const [table, now] of Object.entries(after)) {
    const then = before[table];
    const change = { inserted: since(now.inserted, then?.inserted), updated: since(now.updated, then?.updated), deleted: since(now.deleted, then?.deleted) };
    if (change.inserted + change.updated + change.deleted > 0) delta[table] = change;
  }
  return delta;
}

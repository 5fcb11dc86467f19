import type { Client } from '../db/client.js';
import { quoteIdent } from '../db/client.js';
import type { RelationName } from './sql.js';

export interface RowCount {
  readonly rows: number;
  readonly exact: boolean;
}

/** Counting is a read with ACCESS SHARE: it must neither queue behind a migration nor run for long. */
export const COUNT_SESSION_SETTINGS = "SET lock_timeout = '2s'; SET statement_timeout = '15s'";

export function regclassText(relation: RelationName): string {
  return relation.schema ? `${quoteIdent(relation.schema)}.${quoteIdent(relation.name)}` : quoteIdent(relation.name);
}

/**
 * Rows in a table: exact (count(*)) when the planner estimates at most `exactLimit`, else the planner's
 * estimate, which also stands in when counting is cancelled by the timeouts above. A table that does
 * not exist yet (created by an earlier migration of the same range) holds no rows.
 */
export async function countRows(client: Client, relation: RelationName, exactLimit: number): Promise<RowCount> {
  const found = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::oid::text AS oid', [regclassText(relation)]);
  if (!found.rows[0]?.oid) return { rows: 0, exact: true };
  const table = regclassText(relation);
  // EXPLAIN estimates from the table's current size even when it was never analyzed (reltuples = -1).
  const plan = await client.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${table}`);
  const estimate = Math.round(plan.rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0);
  if (estimate > exactLimit) return { rows: estimate, exact: false };
  try {
    const counted = await client.query<{ count: string }>(`SELECT count(*) AS count FROM ${table}`);
    return { rows: Number(counted.rows[0]?.count ?? 0), exact: true };
  } catch (error) {
    const code = (error as { code?: string }).code;
    // 57014: cancelled by statement_timeout; 55P03: lock_timeout. Anything else is a real failure.
    if (code === '57014' || code === '55P03') return { rows: estimate, exact: false };
    throw error;
  }
}

/** Rows in every table of a schema (partitions counted once, through their leaves). */
export async function countSchemaRows(client: Client, schema: string, exactLimit: number): Promise<RowCount & { tables: number }> {
  const tables = await client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'm') ORDER BY c.relname`,
    [schema],
  );
  let rows = 0;
  let exact = true;
  for (const { relname } of tables.rows) {
    const count = await countRows(client, { schema, name: relname }, exactLimit);
    rows += count.rows;
    exact &&= count.exact;
  }
  return { rows, exact, tables: tables.rows.length };
}

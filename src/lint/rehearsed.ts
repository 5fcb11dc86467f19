import type { Client } from '../db/client.js';
import { notExtensionMember, qualifiedName, userSchemaCondition } from '../db/userSchemas.js';
import { COUNT_SESSION_SETTINGS, countRows, type RowCount } from './rowCounts.js';
import { displayType, isWidening, modifiersFromTypmod, type ColumnType } from './typeChange.js';
import type { DestructiveChange } from './types.js';

/**
 * What a migration destroyed, read from the scratch copy's catalog before and after the rehearsal
 * instead of from the SQL: certain whatever the migration did (SQL built at run time, a revision that
 * cannot be rendered offline, a command-adapter migration). Tables and columns are followed by OID
 * and attribute number, so a rename is not a drop and an ALTER COLUMN TYPE is seen on the same column.
 */

interface ColumnShape {
  readonly name: string;
  readonly type: ColumnType;
}

interface TableShape {
  readonly table: string;
  readonly schema: string;
  readonly name: string;
  /** By attribute number. */
  readonly columns: ReadonlyMap<number, ColumnShape>;
}

/** The user tables of one database by OID, each with its columns. */
export type TableShapes = ReadonlyMap<string, TableShape>;

/** Every user table's columns and types, from the catalogs; the tool's bookkeeping tables are left out. */
export async function readTableShapes(client: Client, bookkeeping: ReadonlySet<string>): Promise<TableShapes> {
  const result = await client.query<{ oid: string; schema: string; name: string; attnum: number | null; attname: string | null; type: string | null; typmod: number | null }>(
    `SELECT c.oid::text AS oid, n.nspname AS schema, c.relname AS name, a.attnum, a.attname, a.atttypid::regtype::text AS type, a.atttypmod AS typmod
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE c.relkind IN ('r', 'p') AND ${userSchemaCondition('n')} AND ${notExtensionMember('pg_class', 'c.oid')}
      ORDER BY n.nspname, c.relname, a.attnum`,
  );
  const shapes = new Map<string, { table: string; schema: string; name: string; columns: Map<number, ColumnShape> }>();
  for (const row of result.rows) {
    if (bookkeeping.has(row.name)) continue;
    const shape = shapes.get(row.oid) ?? { table: qualifiedName(row.schema, row.name), schema: row.schema, name: row.name, columns: new Map<number, ColumnShape>() };
    shapes.set(row.oid, shape);
    if (row.attnum !== null && row.attname !== null && row.type !== null) {
      shape.columns.set(row.attnum, { name: row.attname, type: { name: row.type, modifiers: modifiersFromTypmod(row.type, row.typmod ?? -1) } });
    }
  }
  return shapes;
}

/**
 * Rows of every table, by OID: exact up to `exactLimit` estimated rows, the planner's estimate above
 * (as the SQL analysis counts). Scans the tables: meant for the scratch copy, before the migration
 * (the rows of a table it drops cannot be counted after).
 */
export async function countTableRows(client: Client, shapes: TableShapes, exactLimit: number): Promise<ReadonlyMap<string, RowCount>> {
  await client.query(COUNT_SESSION_SETTINGS);
  const counts = new Map<string, RowCount>();
  for (const [oid, shape] of shapes) counts.set(oid, await countRows(client, { schema: shape.schema, name: shape.name }, exactLimit));
  return counts;
}

/**
 * Dropped tables, dropped columns and narrowed column types between two readings of the same database,
 * each with the table's rows before the change. An unchanged type and a widening one (typeChange.ts)
 * keep every value and are not listed.
 */
export function destroyedBetween(before: TableShapes, after: TableShapes, rowsBefore: ReadonlyMap<string, RowCount>): DestructiveChange[] {
  const changes: DestructiveChange[] = [];
  for (const [oid, table] of before) {
    const counted = rowsBefore.get(oid) ?? { rows: 0, exact: false };
    const rows = { rows: counted.rows, rowsExact: counted.exact, foundBy: 'rehearsal' as const };
    const now = after.get(oid);
    if (!now) {
      changes.push({ kind: 'drop-table', table: table.table, ...rows });
      continue;
    }
    for (const [attnum, column] of table.columns) {
      const current = now.columns.get(attnum);
      if (!current) {
        changes.push({ kind: 'drop-column', table: table.table, column: column.name, ...rows });
      } else if (!isWidening(column.type, current.type)) {
        changes.push({ kind: 'type-change', table: table.table, column: current.name, fromType: displayType(column.type), toType: displayType(current.type), ...rows });
      }
    }
  }
  return changes;
}

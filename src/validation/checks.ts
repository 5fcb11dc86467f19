import type pg from 'pg';
import { quoteIdent } from '../db/client.js';
import { notExtensionMember, qualifiedName, userSchemaCondition } from '../db/userSchemas.js';
import { errorMessage } from '../errors.js';
import { redact } from '../util/redact.js';
import { changedObjectCount, diffChanges } from './change.js';
import { schemaFingerprint, type SchemaFingerprint } from './fingerprint.js';
import { QUALIFIED_NAMES, inReadOnlyTransaction } from './transaction.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
}

export interface ValidationOptions {
  /** "schema.table", or a bare name for public.table; matched literally (no SQL quoting or case folding). */
  readonly criticalTables: readonly string[];
  /** Single read-only statements, each run in a READ ONLY transaction that is rolled back. */
  readonly smokeQueries: readonly string[];
  readonly allowNotValidConstraints: boolean;
  readonly allowInvalidIndexes: boolean;
  /**
   * The change this database must have gone through: `before` is this database before the migration,
   * `expected` the rehearsal's scratch copy right after its restore and after the migration. The
   * fingerprint check compares the two changes object by object (change.ts).
   */
  readonly expectedChange?: { readonly before: SchemaFingerprint; readonly expected: { readonly before: SchemaFingerprint; readonly after: SchemaFingerprint } };
  /** What the expected change is, in the failure message ("rehearsal"). */
  readonly expectedLabel?: string;
  /** statement_timeout and lock_timeout of each smoke query. Default 30 s. */
  readonly smokeQueryTimeoutMs?: number;
  /** How many fingerprint differences a failure lists. Default 10. */
  readonly maxDifferences?: number;
}

const counted = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

const pass = (name: string, detail: string): CheckResult => ({ name, status: 'pass', detail });
const warn = (name: string, detail: string): CheckResult => ({ name, status: 'warn', detail });
const fail = (name: string, detail: string): CheckResult => ({ name, status: 'fail', detail });

/** A check that could not run is a failed check, not a crash: the caller gets every other result too. */
async function guarded(name: string, check: () => Promise<CheckResult[]>): Promise<CheckResult[]> {
  try {
    return await check();
  } catch (error) {
    return [fail(name, `could not check: ${redact(errorMessage(error))}`)];
  }
}

interface UnvalidatedConstraint {
  schema: string;
  table: string;
  relkind: string;
  name: string;
  type: 'f' | 'c' | string;
  definition: string;
  /** CHECK expression, schema-qualified. */
  expression: string | null;
  match: string;
  columns: string[];
  ref_schema: string | null;
  ref_table: string | null;
  ref_relkind: string | null;
  ref_columns: string[] | null;
}

const relation = (schema: string, table: string, relkind: string | null) => `${relkind === 'r' ? 'ONLY ' : ''}${quoteIdent(schema)}.${quoteIdent(table)}`;

/** Rows of the referencing table that a NOT VALID foreign key would reject (MATCH SIMPLE and FULL semantics). */
function orphanCountSql(c: UnvalidatedConstraint): string {
  const refColumns = c.ref_columns ?? [];
  const joined = c.columns.map((column, index) => `p.${quoteIdent(refColumns[index] ?? '')} = r.${quoteIdent(column)}`).join(' AND ');
  const allSet = c.columns.map((column) => `r.${quoteIdent(column)} IS NOT NULL`).join(' AND ');
  const noneSet = c.columns.map((column) => `r.${quoteIdent(column)} IS NULL`).join(' AND ');
  const missing = `(${allSet} AND NOT EXISTS (SELECT 1 FROM ${relation(c.ref_schema ?? '', c.ref_table ?? '', c.ref_relkind)} p WHERE ${joined}))`;
  // MATCH FULL also rejects a key that is only partly NULL.
  const violation = c.match === 'f' ? `(${missing} OR (NOT (${allSet}) AND NOT (${noneSet})))` : missing;
  return `SELECT count(*) AS n FROM ${relation(c.schema, c.table, c.relkind)} r WHERE ${violation}`;
}

async function unvalidatedConstraints(client: pg.Client, options: ValidationOptions): Promise<CheckResult[]> {
  return inReadOnlyTransaction(client, { settings: QUALIFIED_NAMES }, async () => {
    const constraints = (
      await client.query<UnvalidatedConstraint>(
        `SELECT n.nspname AS schema, c.relname AS table, c.relkind::text AS relkind, co.conname AS name, co.contype::text AS type,
                pg_catalog.pg_get_constraintdef(co.oid) AS definition,
                CASE WHEN co.contype = 'c' THEN pg_catalog.pg_get_expr(co.conbin, co.conrelid) END AS expression,
                co.confmatchtype::text AS match,
                ARRAY(SELECT a.attname FROM unnest(co.conkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns,
                rn.nspname AS ref_schema, rc.relname AS ref_table, rc.relkind::text AS ref_relkind,
                CASE WHEN co.contype = 'f' THEN ARRAY(SELECT a.attname FROM unnest(co.confkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] END AS ref_columns
           FROM pg_catalog.pg_constraint co
           JOIN pg_catalog.pg_class c ON c.oid = co.conrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_catalog.pg_class rc ON rc.oid = co.confrelid
           LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
          WHERE NOT co.convalidated AND co.conparentid = 0 AND ${userSchemaCondition('n')} AND ${notExtensionMember('pg_class', 'c.oid')}
          ORDER BY 1, 2, 4`,
      )
    ).rows;
    const results: CheckResult[] = [];
    const listed = constraints.map((c) => `${qualifiedName(c.schema, c.table)}.${c.name}`).join(', ');
    if (constraints.length === 0) results.push(pass('constraints validated', 'no constraint is NOT VALID'));
    else if (options.allowNotValidConstraints) results.push(warn('constraints validated', `${constraints.length} NOT VALID (allowed by configuration): ${listed}`));
    else results.push(fail('constraints validated', `${constraints.length} NOT VALID: ${listed}`));

    // Even when NOT VALID is allowed, rows that break the constraint are a failure: they are the data
    // the application believes cannot exist.
    for (const c of constraints) {
      const name = `violations of ${qualifiedName(c.schema, c.table)}.${c.name}`;
      let sql: string;
      let what: string;
      if (c.type === 'f' && c.ref_table !== null) {
        sql = orphanCountSql(c);
        what = `in ${qualifiedName(c.schema, c.table)} referencing no row of ${qualifiedName(c.ref_schema ?? '', c.ref_table)} (${c.definition})`;
      } else if (c.type === 'c' && c.expression !== null) {
        sql = `SELECT count(*) AS n FROM ${relation(c.schema, c.table, c.relkind)} r WHERE NOT (${c.expression})`;
        what = `in ${qualifiedName(c.schema, c.table)} violating ${c.definition}`;
      } else {
        continue;
      }
      const count = Number((await client.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
      results.push(count > 0 ? fail(name, `${counted(count, 'row')} ${what}`) : pass(name, `no row violates the NOT VALID constraint`));
    }
    return results;
  });
}

async function invalidIndexes(client: pg.Client, options: ValidationOptions): Promise<CheckResult[]> {
  const result = await client.query<{ schema: string; table: string; index: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, ic.relname AS index
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
      WHERE NOT i.indisvalid AND ${userSchemaCondition('n')}
      ORDER BY 1, 2, 3`,
  );
  const name = 'indexes valid';
  if (result.rows.length === 0) return [pass(name, 'no invalid index')];
  const listed = result.rows.map((row) => `${qualifiedName(row.schema, row.index)} on ${qualifiedName(row.schema, row.table)}`).join(', ');
  const detail = `${result.rows.length} invalid (an interrupted or failed CREATE INDEX CONCURRENTLY; drop and recreate it): ${listed}`;
  return [options.allowInvalidIndexes ? warn(name, `${detail} (allowed by configuration)`) : fail(name, detail)];
}

/** "schema.table" -> [schema, table]; a bare name is in public. */
export function splitTableName(name: string): [string, string] {
  const dot = name.indexOf('.');
  return dot < 0 ? ['public', name] : [name.slice(0, dot), name.slice(dot + 1)];
}

const RELATION_KIND: Readonly<Record<string, string>> = { r: 'table', p: 'partitioned table', f: 'foreign table', v: 'view', m: 'materialized view' };

async function criticalTables(client: pg.Client, options: ValidationOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const wanted of options.criticalTables) {
    const [schema, table] = splitTableName(wanted);
    const name = `critical table ${qualifiedName(schema, table)}`;
    results.push(
      ...(await guarded(name, async () => {
        const found = await client.query<{ kind: string }>(
          `SELECT c.relkind::text AS kind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'f', 'v', 'm')`,
          [schema, table],
        );
        const kind = found.rows[0]?.kind;
        return [kind === undefined ? fail(name, 'does not exist') : pass(name, `exists (${RELATION_KIND[kind] ?? kind})`)];
      })),
    );
  }
  return results;
}

const shorten = (text: string, max = 80) => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

async function smokeQueries(client: pg.Client, options: ValidationOptions): Promise<CheckResult[]> {
  const timeout = String(options.smokeQueryTimeoutMs ?? 30_000);
  const results: CheckResult[] = [];
  for (const [index, query] of options.smokeQueries.entries()) {
    const name = `smoke query ${index + 1}`;
    const started = performance.now();
    try {
      const rowCount = await inReadOnlyTransaction(client, { settings: { statement_timeout: timeout, lock_timeout: timeout } }, async () => {
        // The extended protocol accepts exactly one statement: "SELECT 1; COMMIT; DELETE ..." cannot
        // escape the read-only transaction. pg's typings do not declare queryMode.
        const config = { text: query, queryMode: 'extended' } as pg.QueryConfig;
        return (await client.query(config)).rowCount ?? 0;
      });
      results.push(pass(name, `${shorten(query)}: ${counted(rowCount, 'row')} in ${Math.round(performance.now() - started)} ms`));
    } catch (error) {
      results.push(fail(name, `${shorten(query)}: ${redact(errorMessage(error))}`));
    }
  }
  return results;
}

async function fingerprintCheck(client: pg.Client, options: ValidationOptions): Promise<CheckResult[]> {
  const change = options.expectedChange;
  if (!change) return [];
  const label = options.expectedLabel ?? 'expected';
  const actual = { before: change.before, after: await schemaFingerprint(client) };
  const name = 'schema fingerprint';
  const differences = diffChanges(change.expected, actual, { expected: label, actual: 'database' });
  const changed = changedObjectCount(actual);
  if (differences.length === 0) return [pass(name, `changed as in the ${label}: ${counted(changed, 'object')} created, dropped or altered (${actual.after.hash.slice(0, 12)})`)];
  const shown = differences.slice(0, options.maxDifferences ?? 10);
  const more = differences.length > shown.length ? `; and ${differences.length - shown.length} more` : '';
  return [fail(name, `${counted(differences.length, 'difference')} from the ${label}'s change: ${shown.join('; ')}${more}`)];
}

/**
 * Post-migration validation of the database as it is now. Every check yields results instead of
 * throwing, in this order: NOT VALID constraints (and for each NOT VALID foreign key or check, the
 * rows that violate it: a fail even when NOT VALID is allowed), invalid indexes, critical tables,
 * smoke queries, and the schema change when one is expected. Validated foreign keys are not
 * re-checked: the server guarantees them. Only the violation counts scan tables.
 * The client must not be inside a transaction.
 */
export async function validateDatabase(client: pg.Client, options: ValidationOptions): Promise<CheckResult[]> {
  return [
    ...(await guarded('constraints validated', () => unvalidatedConstraints(client, options))),
    ...(await guarded('indexes valid', () => invalidIndexes(client, options))),
    ...(await criticalTables(client, options)),
    ...(await smokeQueries(client, options)),
    ...(await guarded('schema fingerprint', () => fingerprintCheck(client, options))),
  ];
}

/** The overall status of a list of checks: the worst one. */
export function overallStatus(results: readonly CheckResult[]): CheckStatus {
  if (results.some((result) => result.status === 'fail')) return 'fail';
  return results.some((result) => result.status === 'warn') ? 'warn' : 'pass';
}

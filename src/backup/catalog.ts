import type pg from 'pg';
import { connect, quoteIdent, withClient } from '../db/client.js';
import { withDatabase, type DbTarget } from '../db/target.js';
import type { BackupSource, DatabaseSettings, TableEstimate } from './types.js';

/** What the backup store reads from the server about the database it dumps. */
export interface DatabaseFacts {
  readonly serverVersion: string;
  /** 15 for 15.x, 9.6 for 9.6.x: comparable with a client tool's major version. */
  readonly serverMajor: number;
  readonly sizeBytes: number;
  readonly settings: DatabaseSettings;
  readonly systemIdentifier: string | undefined;
}

export function majorFromVersionNum(versionNum: number): number {
  return versionNum >= 100_000 ? Math.floor(versionNum / 10_000) : Math.floor(versionNum / 10_000) + (Math.floor(versionNum / 100) % 100) / 10;
}

export async function databaseFacts(client: pg.Client): Promise<DatabaseFacts> {
  const { rows } = await client.query<{ num: string; version: string; size: string; encoding: string; collate: string; ctype: string }>(
    `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
            pg_database_size(d.oid)::text AS size, pg_encoding_to_char(d.encoding) AS encoding,
            d.datcollate AS collate, d.datctype AS ctype
       FROM pg_database d WHERE d.datname = current_database()`,
  );
  const row = rows[0];
  if (!row) throw new Error('current_database() is missing from pg_database');
  const serverMajor = majorFromVersionNum(Number(row.num));
  const settings: DatabaseSettings = { encoding: row.encoding, collate: row.collate, ctype: row.ctype, localeProvider: 'c' };
  if (serverMajor >= 15) {
    const icu = await client.query<{ provider: string; iculocale: string | null }>(
      'SELECT datlocprovider AS provider, daticulocale AS iculocale FROM pg_database WHERE datname = current_database()',
    );
    const provider = icu.rows[0];
    if (provider) {
      settings.localeProvider = provider.provider;
      if (provider.iculocale) settings.iculocale = provider.iculocale;
    }
  }
  return { serverVersion: row.version.split(' ')[0] ?? row.version, serverMajor, sizeBytes: Number(row.size), settings, systemIdentifier: await systemIdentifier(client) };
}

/** The server's identity whatever host name reached it; undefined where the role may not read it. */
async function systemIdentifier(client: pg.Client): Promise<string | undefined> {
  try {
    const { rows } = await client.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()');
    return rows[0]?.id;
  } catch {
    return undefined;
  }
}

export function sourceOf(target: DbTarget, facts: Pick<DatabaseFacts, 'systemIdentifier'>): BackupSource {
  return { host: target.host, port: target.port, database: target.database, ...(facts.systemIdentifier ? { systemIdentifier: facts.systemIdentifier } : {}) };
}

/** Ordinary tables of the user's schemas, with the planner's row estimate (or the statistics' live tuples when never analysed). */
export async function tableEstimates(client: pg.Client): Promise<TableEstimate[]> {
  const { rows } = await client.query<{ schema: string; name: string; estimated: string }>(
    `SELECT n.nspname AS schema, c.relname AS name,
            (CASE WHEN c.reltuples >= 0 THEN c.reltuples ELSE coalesce(s.n_live_tup, 0) END)::bigint::text AS estimated
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
      WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      ORDER BY 1, 2`,
  );
  return rows.map((row) => ({ schema: row.schema, name: row.name, estimatedRows: Number(row.estimated) }));
}

export interface TableRows {
  readonly schema: string;
  readonly name: string;
  readonly rows: number;
  /** False where counting would scan a big table and the estimate was used. */
  readonly exact: boolean;
}

/** Below this estimate a table is counted exactly; above it the estimate is shown (marked as such). */
const EXACT_COUNT_LIMIT = 1_000_000;

/** Rows per table of `target`: what a restore over it would replace. */
export async function rowsPerTable(target: DbTarget, applicationName: string): Promise<TableRows[]> {
  return withClient(target, applicationName, async (client) => {
    const result: TableRows[] = [];
    for (const table of await tableEstimates(client)) {
      if (table.estimatedRows >= EXACT_COUNT_LIMIT) {
        result.push({ schema: table.schema, name: table.name, rows: table.estimatedRows, exact: false });
        continue;
      }
      const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteIdent(table.schema)}.${quoteIdent(table.name)}`);
      result.push({ schema: table.schema, name: table.name, rows: Number(rows[0]?.n ?? 0), exact: true });
    }
    return result;
  });
}

/**
 * A session on the server's maintenance database, for CREATE/DROP/RENAME DATABASE, which cannot run
 * inside the database they act on. `postgres`, else `template1` where `postgres` was dropped.
 */
export async function withMaintenance<T>(server: DbTarget, applicationName: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  let client: pg.Client;
  try {
    client = await connect(withDatabase(server, 'postgres'), applicationName);
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code !== '3D000') throw error;
    client = await connect(withDatabase(server, 'template1'), applicationName);
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function databaseExists(client: pg.Client, name: string): Promise<boolean> {
  return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
}

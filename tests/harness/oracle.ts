import { execa } from 'execa';
import { urlFor, withAdmin } from './db.js';

/**
 * What "unchanged" means in the tests, measured without the code under test: PostgreSQL's own
 * pg_dump for the schema, and SQL written here for the rows.
 */

/** Per-table exact row count and a checksum of the whole content, for comparing two databases. */
export async function tableContents(database: string): Promise<Record<string, { rows: number; md5: string | null }>> {
  return withAdmin(async (client) => {
    const tables = await client.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    const result: Record<string, { rows: number; md5: string | null }> = {};
    for (const { name } of tables.rows) {
      const { rows } = await client.query<{ n: string; md5: string | null }>(`SELECT count(*)::text AS n, md5(string_agg(t::text, ',' ORDER BY t::text)) AS md5 FROM ${name} t`);
      result[name] = { rows: Number(rows[0]?.n), md5: rows[0]?.md5 ?? null };
    }
    return result;
  }, urlFor(database));
}

/** `pg_dump --schema-only`, without the per-dump random \restrict key. */
export async function schemaDump(database: string): Promise<string> {
  const url = new URL(urlFor(database));
  const { stdout } = await execa('pg_dump', ['--schema-only', '--no-password'], {
    env: { PGHOST: url.hostname, PGPORT: url.port, PGUSER: decodeURIComponent(url.username), PGPASSWORD: decodeURIComponent(url.password), PGDATABASE: database },
  });
  return stdout
    .split('\n')
    .filter((line) => !/^\\(un)?restrict /.test(line))
    .join('\n');
}

/** The Alembic revision stored in the database (null: none, or no alembic_version table). */
export async function alembicRevision(database: string): Promise<string | null> {
  return withAdmin(async (client) => {
    const table = await client.query(`SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = 'alembic_version'`);
    if (table.rowCount === 0) return null;
    const { rows } = await client.query<{ version_num: string }>('SELECT version_num FROM alembic_version');
    return rows[0]?.version_num ?? null;
  }, urlFor(database));
}

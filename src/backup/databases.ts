import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { quoteIdent } from '../db/client.js';
import { MAX_IDENTIFIER_BYTES, boundedName } from '../db/names.js';
import { UsageError } from '../errors.js';
import type { DatabaseSettings } from './types.js';


/** PostgreSQL would silently truncate a longer name, and the restore would then look for the wrong database. */
export function assertDatabaseName(name: string, what: string): void {
  if (name === '' || name.includes('\0') || Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw new UsageError(`${what} "${name}" is not a usable database name (1-${MAX_IDENTIFIER_BYTES} bytes)`);
  }
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** `<base>_<tag>_<hex>` within PostgreSQL's 63-byte identifier limit, so it is never silently truncated. */
export function siblingName(base: string, tag: string): string {
  return boundedName(base, `_${tag}_${randomBytes(3).toString('hex')}`);
}

/**
 * CREATE DATABASE from template0 with the source's encoding and locale: what `pg_restore --create`
 * would do, but under the name we choose.
 */
export function createDatabaseSql(name: string, settings: DatabaseSettings | undefined): string {
  const parts = [`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`];
  if (settings) {
    parts.push(`ENCODING ${literal(settings.encoding)} LC_COLLATE ${literal(settings.collate)} LC_CTYPE ${literal(settings.ctype)}`);
    if (settings.localeProvider === 'i' && settings.iculocale) parts.push(`LOCALE_PROVIDER icu ICU_LOCALE ${literal(settings.iculocale)}`);
  }
  return parts.join(' ');
}

export async function terminateSessions(client: pg.Client, database: string): Promise<number> {
  const { rowCount } = await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
  return rowCount ?? 0;
}

/** Ends every session on `database` and drops it; works on servers without DROP DATABASE ... WITH (FORCE). */
export async function dropDatabase(client: pg.Client, database: string): Promise<void> {
  await terminateSessions(client, database);
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`);
}

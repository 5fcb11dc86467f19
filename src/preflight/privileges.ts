import type pg from 'pg';
import { qualifiedName } from '../db/userSchemas.js';
import { splitTableName, type CheckResult } from '../validation/checks.js';
import type { Reached } from './connection.js';
import { fail, listed, pass, warn } from './result.js';

const NAME = 'privileges:create-database';

/** The rehearsal creates its scratch database on `scratch`: the role must be a superuser or have CREATEDB there. */
export function createDatabaseCheck(scratch: Reached): CheckResult {
  if (!scratch.ok) return fail(NAME, `cannot reach the scratch server: ${scratch.reason}`);
  const { facts } = scratch;
  if (facts.superuser) return pass(NAME, `role ${facts.role} is a superuser on ${scratch.server}`);
  if (facts.createdb) return pass(NAME, `role ${facts.role} has CREATEDB on ${scratch.server}`);
  return fail(
    NAME,
    `role ${facts.role} on ${scratch.server} has neither SUPERUSER nor CREATEDB: it cannot create the scratch database for the rehearsal (ALTER ROLE ${facts.role} CREATEDB, or set rehearsal.scratchUrl to a server where it may)`,
  );
}

interface OwnerRow {
  schema: string;
  name: string;
  owner: string | null;
  owned: boolean | null;
}

/**
 * ALTER TABLE needs the table's owner or a member of the owning role (with its privileges, as
 * PostgreSQL's own ownership check does: pg_has_role USAGE; true for a superuser).
 */
export async function ownerCheck(client: pg.Client, role: string, tables: readonly string[] | undefined): Promise<CheckResult> {
  const name = 'privileges:owner';
  if (tables === undefined) return warn(name, 'not checked: the tables the migration alters are not known');
  const wanted = [...new Set(tables)].map(splitTableName);
  if (wanted.length === 0) return pass(name, 'the migration alters no existing table');
  const { rows } = await client.query<OwnerRow>(
    `SELECT t.schema, t.name, pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
            pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') AS owned
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(schema, name, ord)
       LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema
       LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.name AND c.relkind IN ('r', 'p', 'f', 'm', 'v')
      ORDER BY t.ord`,
    [wanted.map(([schema]) => schema), wanted.map(([, table]) => table)],
  );
  const notOwned = rows.filter((row) => row.owner !== null && !row.owned).map((row) => `${qualifiedName(row.schema, row.name)} (owner ${row.owner})`);
  const missing = rows.filter((row) => row.owner === null).map((row) => qualifiedName(row.schema, row.name));
  const missingNote = missing.length > 0 ? `; not found, so not checked (created by the migration?): ${listed(missing)}` : '';
  if (notOwned.length > 0) {
    return fail(name, `role ${role} neither owns nor is a member of the owner of ${listed(notOwned)}: ALTER on these fails; run as the owner or GRANT the owner role to ${role}${missingNote}`);
  }
  const owned = rows.filter((row) => row.owner !== null).map((row) => qualifiedName(row.schema, row.name));
  if (owned.length === 0) return pass(name, `none of the tables exists yet (created by the migration?): ${listed(missing)}`);
  return pass(name, `role ${role} may alter ${listed(owned)}${missingNote}`);
}

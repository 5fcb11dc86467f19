import { libpqEnv, urlWithoutPassword, type DbTarget } from '../db/target.js';
import type { ToolSession } from '../migrators/types.js';

/**
 * The environment of a migration tool run against `db`: the libpq variables (password, application
 * name, lock_timeout through PGOPTIONS) plus the URL, without its password, in the variable the
 * project's tool reads. libpq-based drivers (psycopg2, node-postgres) take the password from PGPASSWORD.
 */
export function toolEnvironment(db: DbTarget, session: ToolSession, urlEnv: string): Record<string, string> {
  return {
    ...libpqEnv(db, session),
    [urlEnv]: urlWithoutPassword(db),
  };
}

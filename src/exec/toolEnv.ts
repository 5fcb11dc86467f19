import { libpqEnv, urlWithoutPassword, type DbTarget } from '../db/target.js';
import type { ToolSession } from '../migrators/types.js';

/**
 * The environment of a migration tool run against `db`: the libpq variables (password, application
 * name, lock_timeout through PGOPTIONS) plus the URL, without its password, in the variable the
 * project's tool reads. libpq-based drivers (psycopg2, node-postgres) and asyncpg take the password
 * from PGPASSWORD. `urlScheme` (migrator.urlScheme) replaces `postgresql` for projects whose settings
 * hand the URL to SQLAlchemy as it is and need a driver in it (`postgresql+asyncpg`).
 */
export function toolEnvironment(db: DbTarget, session: ToolSession, urlEnv: string, urlScheme?: string): Record<string, string> {
  const url = urlWithoutPassword(db);
  return {
    ...libpqEnv(db, session),
    [urlEnv]: urlScheme ? url.replace(/^postgresql:/, `${urlScheme}:`) : url,
  };
}

import type pg from 'pg';
import { majorFromVersionNum } from '../backup/catalog.js';
import { connect } from '../db/client.js';
import { describeTarget, type DbTarget } from '../db/target.js';
import { errorMessage } from '../errors.js';
import { redact } from '../util/redact.js';

/** What every check may need to know about a server and the role we connect as. */
export interface ServerFacts {
  /** As the server prints it: `15.18`. */
  readonly version: string;
  /** 15 for 15.x, 9.6 for 9.6.x: comparable with a client tool's major version. */
  readonly major: number;
  /** current_user. */
  readonly role: string;
  readonly superuser: boolean;
  readonly createdb: boolean;
  /** A standby replaying WAL: read-only. */
  readonly inRecovery: boolean;
}

interface Place {
  /** user@host:port/database, for messages. */
  readonly where: string;
  /** host:port. */
  readonly server: string;
  readonly database: string;
}

/** A server we reached, or why we could not. */
export type Reached = (Place & { readonly ok: true; readonly client: pg.Client; readonly facts: ServerFacts }) | (Place & { readonly ok: false; readonly reason: string });

/**
 * Preflight runs against production: no catalog query may queue behind another session's lock or
 * run long. These bound every statement of every check.
 */
const SESSION_LIMITS = `SET statement_timeout = '10s'; SET lock_timeout = '2s'; SET idle_in_transaction_session_timeout = '60s'`;

async function serverFacts(client: pg.Client): Promise<ServerFacts> {
  const { rows } = await client.query<{ num: string; version: string; role: string; superuser: boolean; createdb: boolean; recovery: boolean }>(
    `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version, current_user::text AS role,
            r.rolsuper AS superuser, r.rolcreatedb AS createdb, pg_catalog.pg_is_in_recovery() AS recovery
       FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`,
  );
  const row = rows[0];
  if (!row) throw new Error('current_user is missing from pg_roles');
  return {
    version: row.version.split(' ')[0] ?? row.version,
    major: majorFromVersionNum(Number(row.num)),
    role: row.role,
    superuser: row.superuser,
    createdb: row.createdb,
    inRecovery: row.recovery,
  };
}

function placeOf(target: DbTarget): Place {
  return { where: describeTarget(target), server: `${target.host}:${target.port}`, database: target.database };
}

/** Connects with the preflight's limits and reads the server's facts; never throws. */
export async function reach(target: DbTarget, applicationName: string): Promise<Reached> {
  let client: pg.Client;
  try {
    client = await connect(target, applicationName);
  } catch (error) {
    return { ...placeOf(target), ok: false, reason: redact(errorMessage(error)) };
  }
  const reached = await reachOn(client, target);
  if (!reached.ok) await client.end().catch(() => undefined);
  return reached;
}

/** As `reach`, on a connection the caller opened to `target` (and closes); never throws. */
export async function reachOn(client: pg.Client, target: DbTarget): Promise<Reached> {
  const place = placeOf(target);
  try {
    await client.query(SESSION_LIMITS);
    return { ...place, ok: true, client, facts: await serverFacts(client) };
  } catch (error) {
    return { ...place, ok: false, reason: `connected to ${place.where} but could not read the server's version and role: ${redact(errorMessage(error))}` };
  }
}

export async function release(reached: Reached): Promise<void> {
  if (reached.ok) await reached.client.end().catch(() => undefined);
}

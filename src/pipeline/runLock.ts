import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { connect } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import { advisoryLockHolder, advisoryLockKeyParts } from '../db/locks.js';
import { LockedError, errorMessage } from '../errors.js';

/**
 * The key of the run lock of a database, from its name as the server sees it (current_database()):
 * the server truncates a longer name in the connection request to 63 bytes, so two URLs naming the
 * same database differently must still get one key. Advisory locks are scoped to their database, so
 * the server's identity adds nothing to the key; leaving it out keeps the key equal across versions.
 */
export function runLockKey(database: string): bigint {
  return createHash('sha256').update(`orchestrate:${database}`).digest().readBigInt64BE(0);
}

/** The run lock's session was lost (terminated, timed out, cut off): the run no longer excludes others. */
export class RunLockLostError extends LockedError {}

export interface RunLockEvents {
  /** The lock's session was lost. Called once per loss, at once; a re-acquisition is then attempted. */
  readonly onLost?: (reason: string) => void;
  /** The outcome of the re-acquisition attempted after every loss. */
  readonly onReacquired?: (held: boolean, detail: string) => void;
}

export interface RunLockOptions extends RunLockEvents {
  /** Between two pg_try_advisory_lock attempts while waiting for the lock. Default 500 ms. */
  readonly pollMs?: number;
  /** How often the lock's session is checked. Default 2000 ms. */
  readonly watchIntervalMs?: number;
  /** A check that has no answer within this is a lost session (a network cut). Default 5000 ms. */
  readonly watchTimeoutMs?: number;
}

export interface RunLock {
  readonly key: bigint;
  /** The database as the server names it. */
  readonly database: string;
  /** Resolves if the lock is held now (proven by a query on its session); else throws RunLockLostError. */
  assertHeld(): Promise<void>;
  release(): Promise<void>;
}

const IS_HELD_SQL = `SELECT EXISTS (
  SELECT 1 FROM pg_catalog.pg_locks
   WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid() AND granted AND objsubid = 1 AND classid = $1::oid AND objid = $2::oid) AS held`;

function describeHolder(holder: Awaited<ReturnType<typeof advisoryLockHolder>>): string {
  return holder ? `pid ${holder.pid} (${holder.applicationName || 'no application_name'}, user ${holder.user}) since ${holder.since}` : 'another session';
}

/** Opens the lock's session: its name as the server sees it, and no idle_session_timeout (PostgreSQL 14+) to end it while it waits. */
async function openLockSession(target: DbTarget, applicationName: string): Promise<{ client: pg.Client; database: string }> {
  const client = await connect(target, applicationName);
  try {
    const row = (await client.query<{ database: string; version: number }>(`SELECT pg_catalog.current_database() AS database, current_setting('server_version_num')::int AS version`)).rows[0];
    if (!row) throw new Error('current_database() returned no row');
    if (row.version >= 140000) await client.query(`SET idle_session_timeout = 0`);
    return { client, database: row.database };
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

async function tryLock(client: pg.Client, key: bigint): Promise<boolean> {
  const result = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [key.toString()]);
  return result.rows[0]?.locked === true;
}

/** Rejects after `ms`: a check of a session on a cut network would otherwise wait for TCP to give up. */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  const abandon = new AbortController();
  try {
    return await Promise.race([work, sleep(ms, undefined, { signal: abandon.signal }).then(() => Promise.reject(new Error(`no answer within ${ms} ms`)))]);
  } finally {
    abandon.abort();
  }
}

/**
 * A held lock whose session is watched: a cheap query every `watchIntervalMs` (bounded by
 * `watchTimeoutMs`) and the connection's 'error' and 'end' events. When the session is lost the lock
 * is gone with it; it is taken again at once, without waiting, on a new session, so that another run
 * polling for it is unlikely to get in between. If another run did, the lock stays lost: assertHeld()
 * throws from then on, and whatever would write must not.
 */
class WatchedRunLock implements RunLock {
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reacquiring: Promise<void> | undefined;
  #lostReason: string | undefined;
  #released = false;

  constructor(
    readonly key: bigint,
    readonly database: string,
    private readonly target: DbTarget,
    private readonly applicationName: string,
    private readonly options: RunLockOptions,
  ) {}

  watch(client: pg.Client): void {
    this.#client = client;
    this.#lostReason = undefined;
    client.on('error', (error: Error) => this.#lose(client, `its session failed: ${errorMessage(error)}`));
    client.on('end', () => this.#lose(client, 'its session ended'));
    this.#schedule(client);
  }

  #schedule(client: pg.Client): void {
    const interval = this.options.watchIntervalMs ?? 2000;
    this.#timer = setTimeout(() => {
      within(this.options.watchTimeoutMs ?? 5000, client.query('SELECT 1')).then(
        () => {
          if (this.#client === client) this.#schedule(client);
        },
        (error: unknown) => this.#lose(client, `its session did not answer: ${errorMessage(error)}`),
      );
    }, interval);
    // The watch must not keep the process alive on its own.
    this.#timer.unref();
  }

  #lose(client: pg.Client, reason: string): void {
    if (this.#released || this.#client !== client) return;
    clearTimeout(this.#timer);
    this.#client = undefined;
    this.#lostReason = reason;
    void client.end().catch(() => undefined);
    this.options.onLost?.(reason);
    this.#reacquiring = this.#reacquire().finally(() => {
      this.#reacquiring = undefined;
    });
  }

  async #reacquire(): Promise<void> {
    let outcome: { held: boolean; detail: string };
    try {
      const { client } = await openLockSession(this.target, this.applicationName);
      if (this.#released) {
        await client.end().catch(() => undefined);
        return;
      }
      if (await tryLock(client, this.key).catch(() => false)) {
        this.watch(client);
        outcome = { held: true, detail: 'taken again on a new session' };
      } else {
        const holder = await advisoryLockHolder(client, this.key).catch(() => undefined);
        await client.end().catch(() => undefined);
        outcome = { held: false, detail: `could not be taken again: held by ${describeHolder(holder)}` };
      }
    } catch (error) {
      outcome = { held: false, detail: `could not be taken again: ${errorMessage(error)}` };
    }
    this.options.onReacquired?.(outcome.held, outcome.detail);
  }

  async assertHeld(): Promise<void> {
    await this.#reacquiring;
    const client = this.#client;
    if (client && !this.#released) {
      const { classid, objid } = advisoryLockKeyParts(this.key);
      try {
        const held = (await within(this.options.watchTimeoutMs ?? 5000, client.query<{ held: boolean }>(IS_HELD_SQL, [classid, objid]))).rows[0]?.held;
        if (held) return;
        this.#lose(client, 'its session no longer holds it');
      } catch (error) {
        this.#lose(client, `its session did not answer: ${errorMessage(error)}`);
      }
      await this.#reacquiring;
      if (this.#client) return;
    }
    throw new RunLockLostError(`the migration lock on database "${this.database}" was lost (${this.#lostReason ?? 'released'}) and could not be taken again: another run may be writing`, {
      hint: 'see which run holds it (orchestrate history, reports/audit.jsonl) before running anything that writes',
    });
  }

  async release(): Promise<void> {
    this.#released = true;
    clearTimeout(this.#timer);
    await this.#reacquiring;
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [this.key.toString()]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/**
 * The run lock: a session-level advisory lock on a dedicated connection, held for the whole run and
 * watched (see WatchedRunLock). Taken with pg_try_advisory_lock, polled: the blocking form can
 * deadlock with CREATE INDEX CONCURRENTLY run by the holder (flyway#1654). A session lock dies with
 * its session, so a crashed run cannot leave it stale.
 */
export async function acquireRunLock(target: DbTarget, applicationName: string, waitSeconds: number, options: RunLockOptions = {}): Promise<RunLock> {
  const { client, database } = await openLockSession(target, applicationName);
  const key = runLockKey(database);
  const deadline = Date.now() + waitSeconds * 1000;
  try {
    for (;;) {
      if (await tryLock(client, key)) break;
      if (Date.now() >= deadline) {
        const holder = await advisoryLockHolder(client, key);
        throw new LockedError(`another run holds the migration lock on database "${database}": ${describeHolder(holder)}`, {
          hint: 'wait for it to finish; a crashed run releases the lock when its session ends',
        });
      }
      await sleep(options.pollMs ?? 500);
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  const lock = new WatchedRunLock(key, database, target, applicationName, options);
  lock.watch(client);
  return lock;
}

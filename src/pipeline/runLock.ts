import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { connect } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import { advisoryLockHolder } from '../db/locks.js';
import { LockedError } from '../errors.js';

/** One key per database name: runs against different databases of one server do not exclude each other. */
export function runLockKey(database: string): bigint {
  return createHash('sha256').update(`orchestrate:${database}`).digest().readBigInt64BE(0);
}

export interface RunLock {
  readonly key: bigint;
  release(): Promise<void>;
}

/**
 * The run lock: a session-level advisory lock on a dedicated connection, held for the whole run.
 * Taken with pg_try_advisory_lock, polled: the blocking form can deadlock with CREATE INDEX
 * CONCURRENTLY run by the holder (flyway#1654). A session lock dies with its session, so a crashed
 * run cannot leave it stale.
 */
export async function acquireRunLock(target: DbTarget, applicationName: string, waitSeconds: number, pollMs = 500): Promise<RunLock> {
  const key = runLockKey(target.database);
  const client: pg.Client = await connect(target, applicationName);
  const deadline = Date.now() + waitSeconds * 1000;
  try {
    for (;;) {
      const result = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [key.toString()]);
      if (result.rows[0]?.locked) break;
      if (Date.now() >= deadline) {
        const holder = await advisoryLockHolder(client, key);
        const who = holder ? `pid ${holder.pid} (${holder.applicationName || 'no application_name'}, user ${holder.user}) since ${holder.since}` : 'another session';
        throw new LockedError(`another run holds the migration lock on database "${target.database}": ${who}`, {
          hint: 'wait for it to finish; a crashed run releases the lock when its session ends',
        });
      }
      await sleep(pollMs);
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return {
    key,
    release: async () => {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [key.toString()]).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

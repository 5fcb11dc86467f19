import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl, type DbTarget } from '../../src/db/target.js';
import { LockedError } from '../../src/errors.js';
import { acquireRunLock, runLockKey, RunLockLostError, type RunLock } from '../../src/pipeline/runLock.js';
import { createTestDatabase, urlFor, withAdmin, type TestDatabase } from '../harness/db.js';

const databases: TestDatabase[] = [];
const extra: string[] = [];
afterAll(async () => {
  for (const db of databases) await db.drop();
  await withAdmin(async (client) => {
    for (const name of extra) await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
});

async function database(): Promise<{ db: TestDatabase; target: DbTarget }> {
  const db = await createTestDatabase('lock');
  databases.push(db);
  return { db, target: parseDatabaseUrl(db.url) };
}

/** Pids holding the advisory lock `key` in `database`, as the server sees it. */
async function holders(database: string, key: bigint): Promise<number[]> {
  const unsigned = BigInt.asUintN(64, key);
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ pid: number }>(
      `SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = $1::oid AND l.objid = $2::oid AND d.datname = $3`,
      [String(unsigned >> 32n), String(unsigned & 0xffffffffn), database],
    );
    return rows.map((row) => row.pid);
  });
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Events {
  lost: string[];
  reacquired: { held: boolean; detail: string }[];
}

function recording(): Events & { onLost: (reason: string) => void; onReacquired: (held: boolean, detail: string) => void } {
  const events: Events = { lost: [], reacquired: [] };
  return { ...events, onLost: (reason) => events.lost.push(reason), onReacquired: (held, detail) => events.reacquired.push({ held, detail }) };
}

/** A TCP proxy to the test server whose open connections can be cut silently: nothing closes, nothing answers. */
async function cuttableProxy(target: DbTarget): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const open = new Set<{ client: net.Socket; server: net.Socket }>();
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const server = net.connect(target.port, target.host);
    const pair = { client, server };
    open.add(pair);
    sockets.add(client).add(server);
    client.pipe(server);
    server.pipe(client);
    const forget = () => {
      open.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('error', forget);
    server.on('error', forget);
    client.on('close', forget);
    server.on('close', forget);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as net.AddressInfo;
  return {
    port,
    cut() {
      for (const { client, server } of open) {
        client.unpipe(server);
        server.unpipe(client);
        client.pause();
        server.pause();
      }
      open.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        proxy.close(() => resolve());
      }),
  };
}

describe('the run lock', () => {
  it('is keyed by the database the server connected to: names that differ only past byte 63 get one key and exclude each other', async () => {
    const base = `lk_${randomBytes(4).toString('hex')}_`;
    const truncated = base.padEnd(63, 'x');
    expect(Buffer.byteLength(truncated)).toBe(63);
    await withAdmin((client) => client.query(`CREATE DATABASE "${truncated}"`));
    extra.push(truncated);
    const server = parseDatabaseUrl(urlFor(truncated));
    // Built by hand: URL parsing may refuse such names; the key derivation must be right regardless.
    const first: DbTarget = { ...server, database: `${truncated}-first-url` };
    const second: DbTarget = { ...server, database: `${truncated}-second-url` };

    const lock = await acquireRunLock(first, 'orchestrate/test/lock', 0);
    try {
      expect(lock.database).toBe(truncated);
      expect(lock.key).toBe(runLockKey(truncated));
      expect(await holders(truncated, lock.key)).toHaveLength(1);
      await expect(acquireRunLock(second, 'orchestrate/test2/lock', 0)).rejects.toBeInstanceOf(LockedError);
    } finally {
      await lock.release();
    }
    expect(await holders(truncated, runLockKey(truncated))).toEqual([]);
  });

  it('a terminated lock session is noticed at once and the lock is taken again on a new session', async () => {
    const { db, target } = await database();
    const events = recording();
    const lock = await acquireRunLock(target, 'orchestrate/watched/lock', 0, { onLost: events.onLost, onReacquired: events.onReacquired });
    try {
      const [first] = await holders(db.name, lock.key);
      const started = Date.now();
      await withAdmin((client) => client.query('SELECT pg_terminate_backend($1)', [first]));
      const outcome = await until('the re-acquisition', () => events.reacquired[0]);
      // The 'end' of the session, not the periodic check (every 2 s), noticed it.
      expect(Date.now() - started).toBeLessThan(1500);
      expect(events.lost).toHaveLength(1);
      expect(outcome).toMatchObject({ held: true });
      const now = await holders(db.name, lock.key);
      expect(now).toHaveLength(1);
      expect(now[0]).not.toBe(first);
      await expect(lock.assertHeld()).resolves.toBeUndefined();
      await expect(acquireRunLock(target, 'orchestrate/other/lock', 0)).rejects.toBeInstanceOf(LockedError);
    } finally {
      await lock.release();
    }
    expect(await holders(db.name, lock.key)).toEqual([]);
  });

  it('lost to another session in between: it stays lost, and assertHeld refuses', async () => {
    const { db, target } = await database();
    const events = recording();
    const lock = await acquireRunLock(target, 'orchestrate/watched/lock', 0, { onLost: events.onLost, onReacquired: events.onReacquired });
    const thief = new pg.Client({ connectionString: db.url, application_name: 'thief' });
    await thief.connect();
    try {
      const [first] = await holders(db.name, lock.key);
      // Terminate the holder and queue for the lock in one statement: the thief gets it as the holder exits.
      await thief.query('SELECT pg_terminate_backend($1), pg_advisory_lock($2::bigint)', [first, lock.key.toString()]);
      const outcome = await until('the re-acquisition', () => events.reacquired[0]);
      expect(outcome.held).toBe(false);
      expect(outcome.detail).toMatch(/thief/);
      await expect(lock.assertHeld()).rejects.toBeInstanceOf(RunLockLostError);
    } finally {
      await lock.release();
      await thief.end();
    }
  });

  it('a session that stops answering (a network cut) is lost within the check interval plus its timeout', async () => {
    const { db, target } = await database();
    const proxy = await cuttableProxy(target);
    const events = recording();
    let lock: RunLock | undefined;
    try {
      lock = await acquireRunLock({ ...target, host: '127.0.0.1', port: proxy.port }, 'orchestrate/cut/lock', 0, {
        onLost: events.onLost,
        onReacquired: events.onReacquired,
        watchIntervalMs: 200,
        watchTimeoutMs: 500,
      });
      const [first] = await holders(db.name, lock.key);
      const started = Date.now();
      proxy.cut();
      await until('the loss', () => events.lost[0]);
      expect(Date.now() - started).toBeLessThan(200 + 500 + 1000);
      expect(events.lost[0]).toMatch(/did not answer/);
      // The server still holds the lock for the cut session: taking it again must fail, and say who has it.
      const outcome = await until('the re-acquisition', () => events.reacquired[0]);
      expect(outcome.held).toBe(false);
      expect(await holders(db.name, lock.key)).toEqual([first]);
      await expect(lock.assertHeld()).rejects.toBeInstanceOf(RunLockLostError);
    } finally {
      await lock?.release();
      await withAdmin((client) => client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'orchestrate/cut/lock'`, [db.name]));
      await proxy.close();
    }
  });
});

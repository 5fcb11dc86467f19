import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendsByApplicationName, longTransactions, serverApplicationName, stopBackends } from '../../src/db/sessions.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { clients, pollUntil, uniqueTag } from './support.js';

const pidOf = async (client: { query: (sql: string) => Promise<{ rows: { pid: number }[] }> }) => (await client.query('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

describe('sessions', () => {
  const pool = clients();
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('sessions');
  });
  afterAll(async () => {
    await pool.closeAll();
    await db?.drop();
  });

  it('stopBackends cancels a tagged pg_sleep(60), leaves no such backend, and spares the caller and sparePids', async () => {
    const tag = uniqueTag('stop');
    // The caller and a spared session carry the same tag: both must survive.
    const caller = await pool.open(db, tag);
    const spared = await pool.open(db, tag);
    const sleeper = await pool.open(db, tag);
    const sleeperPid = await pidOf(sleeper);
    const sleeping = sleeper.query('SELECT pg_sleep(60)').then(
      () => 'finished',
      (error: { code?: string }) => error.code,
    );
    await pollUntil(
      () => backendsByApplicationName(caller, tag),
      (sessions) => sessions.some((session) => session.pid === sleeperPid && session.state === 'active'),
      5_000,
    );

    const started = Date.now();
    const result = await stopBackends(caller, tag, 2_000, { sparePids: [await pidOf(spared)] });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result.cancelled).toEqual([sleeperPid]);
    expect(await sleeping).toBe('57014'); // query_canceled: the statement stopped on the server
    expect(result.terminated).toEqual([sleeperPid]);
    const left = await backendsByApplicationName(caller, tag);
    expect(left.map((session) => session.pid)).toEqual([await pidOf(spared)]);
    expect((await caller.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
  });

  it('stopBackends terminates a session idle in transaction after the grace period', async () => {
    const tag = uniqueTag('stop-idle');
    const caller = await pool.open(db);
    const idle = await pool.open(db, tag);
    await idle.query('BEGIN; SELECT 1');
    const idlePid = await pidOf(idle);
    const result = await stopBackends(caller, tag, 300);
    expect(result).toEqual({ cancelled: [], terminated: [idlePid] });
    expect(await backendsByApplicationName(caller, tag)).toEqual([]);
  });

  it('longTransactions lists an idle-in-transaction session with its pid and age, not younger ones nor our own', async () => {
    const client = await pool.open(db);
    const tag = uniqueTag('long');
    const idle = await pool.open(db, tag);
    await idle.query('BEGIN; SELECT 1');
    const idlePid = await pidOf(idle);
    await client.query('BEGIN; SELECT 1');
    const found = await pollUntil(
      () => longTransactions(client, 1),
      (sessions) => sessions.some((session) => session.pid === idlePid),
      5_000,
    );
    const session = found.find((entry) => entry.pid === idlePid);
    expect(session).toMatchObject({ pid: idlePid, applicationName: tag, state: 'idle in transaction', database: db.name, waitEvent: 'Client:ClientRead' });
    expect(session!.xactAgeSeconds).toBeGreaterThanOrEqual(1);
    expect(session!.xactAgeSeconds).toBeLessThan(30);
    expect(found.map((entry) => entry.pid)).not.toContain(await pidOf(client));
    expect((await longTransactions(client, 3600)).map((entry) => entry.pid)).not.toContain(idlePid);
    await client.query('COMMIT');
    await idle.query('COMMIT');
  });

  it('backendsByApplicationName matches exactly, or by prefix with a trailing %, as the server truncates names', async () => {
    const client = await pool.open(db);
    const prefix = uniqueTag('app_x');
    const exact = await pool.open(db, `${prefix}/one`);
    await pool.open(db, `${prefix}/two`);
    const long = `${prefix}/${'x'.repeat(80)}`;
    const longSession = await pool.open(db, long);
    expect((await backendsByApplicationName(client, `${prefix}/one`)).map((s) => s.pid)).toEqual([await pidOf(exact)]);
    expect(await backendsByApplicationName(client, prefix)).toEqual([]);
    expect(await backendsByApplicationName(client, `${prefix}/o_e`)).toEqual([]);
    expect((await backendsByApplicationName(client, `${prefix}/%`)).length).toBe(3);
    // The underscore in the prefix is literal, not LIKE's any-character.
    expect(await backendsByApplicationName(client, `${prefix.replace('app_x', 'appxx')}/%`)).toEqual([]);
    expect((await backendsByApplicationName(client, long)).map((s) => s.pid)).toEqual([await pidOf(longSession)]);
    expect(serverApplicationName(long)).toHaveLength(63);
  });
});

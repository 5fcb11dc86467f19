import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl, type DbTarget } from '../../src/db/target.js';
import { blockingChecks } from '../../src/preflight/index.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { backendPid, check, createLoginRole, named, openSession } from './helpers.js';

describe('sessions that would block DDL', () => {
  let db: TestDatabase;
  let target: DbTarget;
  const sessions: pg.Client[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('pf_sess');
    target = parseDatabaseUrl(db.url);
    await db.query('CREATE TABLE orders (id int PRIMARY KEY, total int); INSERT INTO orders SELECT i, i FROM generate_series(1, 100) i');
  });
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((session) => session.end().catch(() => undefined)));
  });
  afterAll(() => db.drop());

  async function idleInTransaction(): Promise<{ session: pg.Client; pid: number }> {
    const session = await openSession(db.url, 'pf-idle-app');
    sessions.push(session);
    await session.query('BEGIN');
    await session.query('SELECT count(*) FROM orders');
    return { session, pid: await backendPid(session) };
  }

  it('a session idle in transaction on the target table is listed with its pid, age, application and the table it locks', async () => {
    const { pid } = await idleInTransaction();
    await sleep(1200);
    const results = await check(target, { tablesToAlter: ['public.orders'] }, { preflight: { idleInTransactionSeconds: 1 } });

    const idle = named(results, 'sessions:idle-in-transaction');
    expect(idle.status).toBe('warn');
    expect(idle.detail).toContain(`pid ${pid} (application "pf-idle-app"`);
    expect(idle.detail).toContain('public.orders (AccessShareLock, altered by the migration)');
    const age = Number(/idle in transaction for ([\d.]+) s/.exec(idle.detail)?.[1]);
    expect(age).toBeGreaterThanOrEqual(1);
    expect(age).toBeLessThan(30);
    expect(idle.detail).toMatch(/transaction open [\d.]+ s/);
    // Listed once: a long transaction that is idle belongs to the idle check.
    expect(named(results, 'sessions:long-transactions')).toMatchObject({ status: 'pass' });
    expect(blockingChecks(results)).toEqual([]);
  });

  it('below the threshold it is not listed; preflight.blockingSessions = fail makes a listed session block', async () => {
    const { pid } = await idleInTransaction();
    expect(named(await check(target), 'sessions:idle-in-transaction')).toMatchObject({ status: 'pass', detail: 'no session idle in a transaction for 5 s or longer' });

    const results = await check(target, {}, { preflight: { idleInTransactionSeconds: 0, blockingSessions: 'fail' } });
    const idle = named(results, 'sessions:idle-in-transaction');
    expect(idle.status).toBe('fail');
    expect(idle.detail).toContain(`pid ${pid}`);
    expect(blockingChecks(results)).toEqual([idle]);
  });

  it('a transaction running longer than pipeline.longTransactionSeconds is listed as a long transaction', async () => {
    const session = await openSession(db.url, 'pf-long-app');
    sessions.push(session);
    const pid = await backendPid(session);
    await session.query('BEGIN');
    await session.query('UPDATE orders SET total = total + 1 WHERE id = 1');
    const running = session.query('SELECT pg_sleep(30)').catch(() => undefined);
    await sleep(1200);

    const results = await check(target, {}, { pipeline: { longTransactionSeconds: 1 } });
    const long = named(results, 'sessions:long-transactions');
    expect(long.status).toBe('warn');
    expect(long.detail).toMatch(new RegExp(`pid ${pid} \\(application "pf-long-app", user \\w+, active, transaction open [\\d.]+ s, waiting on Timeout:PgSleep, locks public.orders \\(RowExclusiveLock\\)\\)`));
    expect(Number(/transaction open ([\d.]+) s/.exec(long.detail)?.[1])).toBeGreaterThanOrEqual(1);
    expect(named(results, 'sessions:idle-in-transaction').status).toBe('pass');

    await db.query('SELECT pg_cancel_backend($1)', [pid]);
    await running;
  });

  it('a role that may not see other roles\' sessions says so; with pg_read_all_stats it names them', async () => {
    const role = await createLoginRole([db.name]);
    try {
      const { pid } = await idleInTransaction();
      const unseen = named(await check(role.target(db.name), {}, { preflight: { idleInTransactionSeconds: 0 } }), 'sessions:idle-in-transaction');
      expect(unseen.status).toBe('warn');
      expect(unseen.detail).toBe('no visible session idle in a transaction for 0 s or longer; 1 session of other roles could not be inspected (grant pg_read_all_stats to see them)');

      await db.query(`GRANT pg_read_all_stats TO ${role.name}`);
      const seen = named(await check(role.target(db.name), {}, { preflight: { idleInTransactionSeconds: 0 } }), 'sessions:idle-in-transaction');
      expect(seen).toMatchObject({ status: 'warn', detail: expect.stringContaining(`pid ${pid} (application "pf-idle-app"`) });
      expect(seen.detail).not.toContain('could not be inspected');
    } finally {
      await role.drop();
    }
  });

  it('our own sessions (the checks\' application_name) are never listed', async () => {
    const own = await openSession(db.url, 'orchestrate/pftest/preflight');
    sessions.push(own);
    await own.query('BEGIN');
    await own.query('SELECT 1 FROM orders');
    const results = await check(target, {}, { preflight: { idleInTransactionSeconds: 0 } });
    expect(named(results, 'sessions:idle-in-transaction').status).toBe('pass');
  });
});

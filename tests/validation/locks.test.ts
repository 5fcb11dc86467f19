import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advisoryLockHolder, advisoryLockKeyParts, relationFileNodes, rewrittenTables, startLockSampler, type TableLockTrace } from '../../src/db/locks.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { clients, targetOf, uniqueTag } from './support.js';

describe('lock sampler, relfilenodes and advisory lock holder', () => {
  const pool = clients();
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('locks');
    await db.query(`
      CREATE TABLE t (id bigint PRIMARY KEY, n int);
      CREATE TABLE parent (id bigint PRIMARY KEY);
      CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint);
      CREATE TABLE other (id bigint PRIMARY KEY);
      INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g;
      INSERT INTO parent SELECT g FROM generate_series(1, 100) g;
      INSERT INTO child SELECT g, 1 + g % 100 FROM generate_series(1, 1000) g;
      ALTER TABLE child ADD CONSTRAINT child_parent_fkey FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;`);
  });
  afterAll(async () => {
    await pool.closeAll();
    await db?.drop();
  });

  /** Runs `sql` from a session tagged `tag` while a sampler watches that tag. */
  async function traced(tag: string, sql: string, during?: () => Promise<void>): Promise<TableLockTrace[]> {
    const worker = await pool.open(db, tag);
    const sampler = startLockSampler(targetOf(db), tag);
    await sampler.ready;
    try {
      await Promise.all([worker.query(sql), during?.()]);
    } finally {
      await worker.end();
    }
    return sampler.stop();
  }

  it('records ACCESS EXCLUSIVE for about as long as an ALTER TABLE transaction sleeps, and only for the tagged session', async () => {
    const tag = uniqueTag('locks-alter');
    const bystander = await pool.open(db, uniqueTag('bystander'));
    const traces = await traced(tag, 'BEGIN; ALTER TABLE t ADD COLUMN x int; SELECT pg_sleep(0.5); COMMIT', async () => {
      await bystander.query('BEGIN; SELECT count(*) FROM other; SELECT pg_sleep(0.2); COMMIT');
    });
    const t = traces.find((trace) => trace.table === 'public.t');
    expect(t).toMatchObject({ strongestMode: 'AccessExclusiveLock', granted: true });
    expect(t!.strongestHeldMs).toBeGreaterThanOrEqual(400);
    expect(t!.strongestHeldMs).toBeLessThanOrEqual(900);
    expect(t!.lastSeenMs - t!.firstSeenMs).toBeGreaterThanOrEqual(400);
    expect(traces.map((trace) => trace.table)).not.toContain('public.other');
  });

  it('records SHARE UPDATE EXCLUSIVE for VALIDATE CONSTRAINT (and ROW SHARE on the referenced table)', async () => {
    const traces = await traced(uniqueTag('locks-validate'), 'BEGIN; ALTER TABLE child VALIDATE CONSTRAINT child_parent_fkey; SELECT pg_sleep(0.3); COMMIT');
    expect(traces.find((trace) => trace.table === 'public.child')).toMatchObject({ strongestMode: 'ShareUpdateExclusiveLock', granted: true });
    expect(traces.find((trace) => trace.table === 'public.child')!.strongestHeldMs).toBeGreaterThanOrEqual(200);
    expect(traces.find((trace) => trace.table === 'public.parent')?.strongestMode).toBe('RowShareLock');
  });

  it('records a lock that was only waited for as not granted', async () => {
    const holder = await pool.open(db, uniqueTag('holder'));
    await holder.query('BEGIN; SELECT count(*) FROM t');
    try {
      const tag = uniqueTag('locks-wait');
      const worker = await pool.open(db, tag);
      const sampler = startLockSampler(targetOf(db), tag);
      await sampler.ready;
      await expect(worker.query(`SET lock_timeout = '400ms'; ALTER TABLE t ADD COLUMN y int`)).rejects.toThrow(/lock timeout/);
      const t = (await sampler.stop()).find((trace) => trace.table === 'public.t');
      expect(t).toMatchObject({ strongestMode: 'AccessExclusiveLock', granted: false });
      expect(t!.waitedMs).toBeGreaterThanOrEqual(250);
    } finally {
      await holder.query('ROLLBACK');
    }
  });

  it('stop() reports a sampler that could not connect', async () => {
    const sampler = startLockSampler({ ...targetOf(db), database: 'no_such_database_here' }, 'x');
    await expect(sampler.ready).rejects.toThrow(/does not exist/);
    await expect(sampler.stop()).rejects.toThrow(/does not exist/);
  });

  it('relationFileNodes detects the rewrite of ALTER COLUMN TYPE and none for ADD COLUMN ... DEFAULT 5', async () => {
    const client = await pool.open(db);
    const start = await relationFileNodes(client);
    expect(start['public.t']).toBeGreaterThan(0);
    await client.query('ALTER TABLE t ADD COLUMN d int DEFAULT 5');
    const afterDefault = await relationFileNodes(client);
    expect(rewrittenTables(start, afterDefault)).toEqual([]);
    await client.query('ALTER TABLE t ALTER COLUMN n TYPE bigint');
    expect(rewrittenTables(afterDefault, await relationFileNodes(client))).toEqual(['public.t']);
  });

  it('advisoryLockHolder names the session holding a key, for negative and 64-bit keys too', async () => {
    const client = await pool.open(db);
    const tag = uniqueTag('lock-holder');
    const holder = await pool.open(db, tag);
    const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    for (const key of [42n, -7n, 0x7fff_ffff_ffff_fff0n, -0x1234_5678_9abcn]) {
      expect(await advisoryLockHolder(client, key)).toBeUndefined();
      await holder.query('SELECT pg_try_advisory_lock($1::bigint)', [key.toString()]);
      const found = await advisoryLockHolder(client, key);
      expect(found).toMatchObject({ pid: holderPid, applicationName: tag, state: 'idle' });
      expect(Date.parse(found!.since)).toBeLessThanOrEqual(Date.now());
      await holder.query('SELECT pg_advisory_unlock($1::bigint)', [key.toString()]);
    }
    expect(advisoryLockKeyParts(-1n)).toEqual({ classid: '4294967295', objid: '4294967295' });
    expect(advisoryLockKeyParts(42)).toEqual({ classid: '0', objid: '42' });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/client.js';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { countingRelay, throughRelay, type CountingRelay } from '../harness/relay.js';
import { check } from './helpers.js';

/** The results without sizes and each call's own working directory: what a second run must find again. */
function findings(results: Awaited<ReturnType<typeof check>>): string[] {
  return results.map((result) => `${result.name} ${result.status} ${result.detail.replace(/\d+(\.\d+)? ?(s|ms|B|kB|MB|GB)\b/g, 'N').replace(/orchestrate-preflight-\w+/g, 'DIR')}`);
}

describe('preflight checks on a connection the caller opened', () => {
  let db: TestDatabase;
  let relay: CountingRelay;

  beforeAll(async () => {
    db = await createTestDatabase('pf_conn');
    await db.query('CREATE TABLE t (id int PRIMARY KEY)');
    relay = await countingRelay(new URL(db.url));
  });
  afterAll(async () => {
    await relay.close();
    await db.drop();
  });

  it('run every check on it, open no other, leave it open, and find what checks on their own connection find', async () => {
    const target = parseDatabaseUrl(throughRelay(db.url, relay, 'disable'));
    const alone = await check(target, { willBackup: true, tablesToAlter: ['public.t'] });
    expect(relay.connections()).toBe(1);
    const client = await connect(target, 'orchestrate/pftest/preflight');
    try {
      const onIt = await check(target, { willBackup: true, tablesToAlter: ['public.t'], connected: client });
      expect(relay.connections()).toBe(2);
      expect(findings(onIt)).toEqual(findings(alone));
      expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('a connection that no longer answers is replaced: the checks find the same as on a fresh one', async () => {
    const target = parseDatabaseUrl(throughRelay(db.url, relay, 'disable'));
    const alone = await check(target, { willBackup: true, tablesToAlter: ['public.t'] });
    const client = await connect(target, 'orchestrate/pftest/preflight');
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const ended = new Promise((resolve) => client.once('end', resolve));
    await db.query('SELECT pg_terminate_backend($1)', [pid]);
    // The client has seen its connection go: the checks start on a dead one, not on one dying under them.
    await ended;
    const before = relay.connections();
    const onDead = await check(target, { willBackup: true, tablesToAlter: ['public.t'], connected: client });
    expect(relay.connections()).toBe(before + 1);
    expect(findings(onDead)).toEqual(findings(alone));
    await client.end().catch(() => undefined);
  });
});

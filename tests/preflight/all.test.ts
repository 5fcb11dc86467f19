import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/localpg/cluster.js';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { PREFLIGHT_CHECKS, blockingChecks } from '../../src/preflight/index.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { check, named } from './helpers.js';

const NAMES = [
  'server',
  'privileges:create-database',
  'privileges:owner',
  'tools:pg_dump',
  'tools:pg_restore',
  'disk',
  'sessions:long-transactions',
  'sessions:idle-in-transaction',
  'replication',
  'restore:non-superuser',
];

describe('the whole set', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('pf_all');
    await db.query('CREATE TABLE t (id int PRIMARY KEY)');
  });
  afterAll(() => db.drop());

  it('every check is present once, under its stable name, in the documented order; a clean database on this server blocks nothing', async () => {
    expect(PREFLIGHT_CHECKS).toEqual(NAMES);
    const results = await check(parseDatabaseUrl(db.url), { willBackup: true, tablesToAlter: ['public.t'] });
    expect(results.map((result) => result.name)).toEqual(NAMES);
    for (const result of results) expect(result.detail.length, result.name).toBeGreaterThan(0);
    expect(blockingChecks(results)).toEqual([]);
    expect(results.filter((result) => result.status !== 'pass')).toEqual([]);
    expect(named(results, 'server').detail).toMatch(/^PostgreSQL \d+\.\d+ at \w+@[^/]+\/pf_all_\w+, role \w+ \(superuser\)$/);
  });

  it('replication passes with "no replicas" on a server without any', async () => {
    expect(named(await check(parseDatabaseUrl(db.url)), 'replication')).toEqual({ name: 'replication', status: 'pass', detail: 'no replicas' });
  });

  it('an unreachable server: the server check fails, the checks that need it say "not checked", nothing throws', async () => {
    const url = new URL(db.url);
    url.port = String(await freePort());
    const results = await check(parseDatabaseUrl(url.toString()), { willBackup: true, tablesToAlter: ['public.t'] });
    expect(results.map((result) => result.name)).toEqual(NAMES);
    expect(named(results, 'server')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^cannot connect to .*: server unreachable \(ECONNREFUSED\)$/) });
    expect(named(results, 'privileges:create-database')).toMatchObject({ status: 'fail', detail: expect.stringContaining('cannot reach the scratch server') });
    for (const name of ['privileges:owner', 'disk', 'sessions:long-transactions', 'sessions:idle-in-transaction', 'replication', 'restore:non-superuser'] as const) {
      expect(named(results, name), name).toEqual({ name, status: 'warn', detail: 'not checked: the server could not be reached (see the server check)' });
    }
    expect(named(results, 'tools:pg_dump')).toMatchObject({ status: 'warn', detail: expect.stringContaining("not compared: the server's version is unknown") });
    expect(blockingChecks(results).map((result) => result.name)).toEqual(['server', 'privileges:create-database']);
  });

  it('no password in any detail', async () => {
    const url = new URL(db.url);
    url.password = 'canary-Pw-4711';
    const results = await check(parseDatabaseUrl(url.toString()), { willBackup: true });
    expect(named(results, 'server').status).toBe('fail');
    expect(JSON.stringify(results)).not.toContain('canary-Pw-4711');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { blockingChecks } from '../../src/preflight/index.js';
import { createTestDatabase, withAdmin, type TestDatabase } from '../harness/db.js';
import { check, createLoginRole, named, type LoginRole } from './helpers.js';

describe('privileges', () => {
  let db: TestDatabase;
  let plain: LoginRole;
  let creator: LoginRole;
  let admin: string;

  beforeAll(async () => {
    db = await createTestDatabase('pf_priv');
    admin = await withAdmin(async (client) => (await client.query<{ u: string }>('SELECT current_user::text AS u')).rows[0]?.u ?? '');
    plain = await createLoginRole([db.name]);
    creator = await createLoginRole([db.name], 'CREATEDB');
    await db.query(`CREATE TABLE accounts (id int PRIMARY KEY); CREATE TABLE ledger (id int PRIMARY KEY)`);
    // ledger belongs to a group role that `creator` is a member of: membership is enough to alter it.
    await db.query(`CREATE ROLE ${creator.name}_owners NOLOGIN; GRANT ${creator.name}_owners TO ${creator.name}; ALTER TABLE ledger OWNER TO ${creator.name}_owners`);
  });
  afterAll(async () => {
    await db.drop();
    await plain.drop();
    await creator.drop();
    await withAdmin((client) => client.query(`DROP ROLE IF EXISTS ${creator.name}_owners`));
  });

  it('privileges:create-database fails for a role without CREATEDB, passes with it and for a superuser', async () => {
    const denied = named(await check(plain.target(db.name)), 'privileges:create-database');
    expect(denied.status).toBe('fail');
    expect(denied.detail).toMatch(new RegExp(`^role ${plain.name} on [^ ]+:\\d+ has neither`));
    expect(denied.detail).toContain('has neither SUPERUSER nor CREATEDB: it cannot create the scratch database');

    expect(named(await check(creator.target(db.name)), 'privileges:create-database')).toMatchObject({ status: 'pass', detail: expect.stringContaining(`role ${creator.name} has CREATEDB`) });
    expect(named(await check(parseDatabaseUrl(db.url)), 'privileges:create-database')).toMatchObject({ status: 'pass', detail: expect.stringContaining('is a superuser') });
  });

  it('privileges:create-database is judged on the scratch server, as its role', async () => {
    const results = await check(parseDatabaseUrl(db.url), { scratchServer: plain.target(db.name) });
    expect(named(results, 'privileges:create-database').status).toBe('fail');
    expect(named(results, 'server').status).toBe('pass');
  });

  it('privileges:owner fails for a non-owner, naming the table and its owner; membership in the owner role is enough', async () => {
    const results = await check(creator.target(db.name), { tablesToAlter: ['public.accounts', 'ledger', 'public.invoices'] });
    const owner = named(results, 'privileges:owner');
    expect(owner.status).toBe('fail');
    expect(owner.detail).toContain(`role ${creator.name} neither owns nor is a member of the owner of public.accounts (owner ${admin})`);
    expect(owner.detail).not.toContain('public.ledger (owner');
    expect(owner.detail).toContain('not found, so not checked (created by the migration?): public.invoices');
    expect(blockingChecks(results).map((result) => result.name)).toEqual(['privileges:owner']);

    expect(named(await check(creator.target(db.name), { tablesToAlter: ['public.ledger'] }), 'privileges:owner')).toMatchObject({
      status: 'pass',
      detail: `role ${creator.name} may alter public.ledger`,
    });
  });

  it('privileges:owner warns when the tables are not known and passes for a superuser', async () => {
    expect(named(await check(plain.target(db.name)), 'privileges:owner')).toMatchObject({ status: 'warn', detail: 'not checked: the tables the migration alters are not known' });
    expect(named(await check(parseDatabaseUrl(db.url), { tablesToAlter: ['public.accounts'] }), 'privileges:owner').status).toBe('pass');
  });
});

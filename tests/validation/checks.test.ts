import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overallStatus, validateDatabase, type CheckResult, type ValidationOptions } from '../../src/validation/checks.js';
import { schemaFingerprint } from '../../src/validation/fingerprint.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { clients } from './support.js';

const CLEAN = `
  CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
  CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id), code text, amount numeric CHECK (amount >= 0));
  CREATE INDEX orders_user_idx ON orders (user_id);
  INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 100) g;
  INSERT INTO orders SELECT g, 1 + g % 100, 'c' || g, g FROM generate_series(1, 500) g;`;

const base: ValidationOptions = {
  criticalTables: ['users', 'public.orders'],
  smokeQueries: ['SELECT count(*) FROM orders JOIN users ON users.id = orders.user_id'],
  allowNotValidConstraints: false,
  allowInvalidIndexes: false,
};

const byName = (results: readonly CheckResult[], name: string) => results.find((result) => result.name === name);
const failures = (results: readonly CheckResult[]) => results.filter((result) => result.status === 'fail');

describe('validateDatabase', () => {
  const pool = clients();
  const databases: TestDatabase[] = [];
  async function fresh(extra = ''): Promise<{ db: TestDatabase; client: Awaited<ReturnType<typeof pool.open>> }> {
    const db = await createTestDatabase('checks');
    databases.push(db);
    await db.query(CLEAN + extra);
    return { db, client: await pool.open(db) };
  }

  let clean: Awaited<ReturnType<typeof fresh>>;
  beforeAll(async () => {
    clean = await fresh();
  });
  afterAll(async () => {
    await pool.closeAll();
    await Promise.all(databases.map((db) => db.drop()));
  });

  it('passes on a clean database, fingerprint included', async () => {
    const fingerprint = await schemaFingerprint(clean.client);
    const expectedChange = { before: fingerprint, expected: { before: fingerprint, after: fingerprint } };
    const results = await validateDatabase(clean.client, { ...base, expectedChange, expectedLabel: 'rehearsal' });
    expect(failures(results)).toEqual([]);
    expect(overallStatus(results)).toBe('pass');
    expect(results.map((result) => result.name)).toEqual([
      'constraints validated',
      'indexes valid',
      'critical table public.users',
      'critical table public.orders',
      'smoke query 1',
      'schema fingerprint',
    ]);
    expect(byName(results, 'smoke query 1')?.detail).toMatch(/: 1 row in \d+ ms$/);
  });

  it('fails on an orphan row under a NOT VALID foreign key, naming the constraint and the count, even when NOT VALID is allowed', async () => {
    const { client } = await fresh(`
      CREATE TABLE payments (id bigint PRIMARY KEY, order_id bigint, amount numeric);
      INSERT INTO payments VALUES (1, 1, 10), (2, 999999, 5), (3, 888888, 7), (4, NULL, 1);
      ALTER TABLE payments ADD CONSTRAINT payments_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;`);
    const strict = await validateDatabase(client, base);
    expect(byName(strict, 'constraints validated')).toEqual({ name: 'constraints validated', status: 'fail', detail: '1 NOT VALID: public.payments.payments_order_id_fkey' });
    const violations = byName(strict, 'violations of public.payments.payments_order_id_fkey');
    expect(violations?.status).toBe('fail');
    // Two orphans; the NULL key is not an orphan under MATCH SIMPLE.
    expect(violations?.detail).toMatch(/^2 rows in public\.payments referencing no row of public\.orders \(FOREIGN KEY \(order_id\) REFERENCES public\.orders\(id\) NOT VALID\)$/);

    const lenient = await validateDatabase(client, { ...base, allowNotValidConstraints: true });
    expect(byName(lenient, 'constraints validated')?.status).toBe('warn');
    expect(byName(lenient, 'violations of public.payments.payments_order_id_fkey')?.status).toBe('fail');

    await client.query('DELETE FROM payments WHERE id IN (2, 3)');
    const cleaned = await validateDatabase(client, { ...base, allowNotValidConstraints: true });
    expect(byName(cleaned, 'violations of public.payments.payments_order_id_fkey')?.status).toBe('pass');
    expect(overallStatus(cleaned)).toBe('warn');
  });

  it('counts rows that break a NOT VALID check constraint and honours MATCH FULL', async () => {
    const { client } = await fresh(`
      INSERT INTO orders VALUES (9001, 1, 'zero', 0);
      ALTER TABLE orders ADD CONSTRAINT orders_amount_positive CHECK (amount > 0) NOT VALID;
      CREATE TABLE pairs (a bigint, b bigint, PRIMARY KEY (a, b));
      CREATE TABLE refs (a bigint, b bigint);
      INSERT INTO pairs VALUES (1, 1);
      INSERT INTO refs VALUES (1, 1), (1, NULL), (NULL, NULL), (2, 2);
      ALTER TABLE refs ADD CONSTRAINT refs_full_fkey FOREIGN KEY (a, b) REFERENCES pairs (a, b) MATCH FULL NOT VALID;`);
    const results = await validateDatabase(client, { ...base, allowNotValidConstraints: true });
    expect(byName(results, 'violations of public.orders.orders_amount_positive')?.detail).toBe('1 row in public.orders violating CHECK ((amount > (0)::numeric)) NOT VALID');
    // (1, NULL) is half NULL and (2, 2) has no parent; (NULL, NULL) is allowed.
    expect(byName(results, 'violations of public.refs.refs_full_fkey')?.detail).toMatch(/^2 rows in public\.refs referencing no row of public\.pairs/);
  });

  it('fails on an index left invalid by a CREATE UNIQUE INDEX CONCURRENTLY that met duplicates', async () => {
    const { client } = await fresh(`UPDATE orders SET code = 'dup' WHERE id IN (1, 2);`);
    await expect(client.query('CREATE UNIQUE INDEX CONCURRENTLY orders_code_key ON orders (code)')).rejects.toThrow(/could not create unique index/);
    const results = await validateDatabase(client, base);
    expect(byName(results, 'indexes valid')?.status).toBe('fail');
    expect(byName(results, 'indexes valid')?.detail).toContain('public.orders_code_key on public.orders');
    expect(byName(await validateDatabase(client, { ...base, allowInvalidIndexes: true }), 'indexes valid')?.status).toBe('warn');
  });

  it('fails on a missing critical table and a failing smoke query, and runs the rest', async () => {
    const results = await validateDatabase(clean.client, {
      ...base,
      criticalTables: ['users', 'billing.invoices', 'Users'],
      smokeQueries: ['SELECT count(*) FROM users', 'SELECT no_such_column FROM users'],
    });
    expect(byName(results, 'critical table public.users')?.status).toBe('pass');
    expect(byName(results, 'critical table billing.invoices')).toEqual({ name: 'critical table billing.invoices', status: 'fail', detail: 'does not exist' });
    expect(byName(results, 'critical table public.Users')?.status).toBe('fail');
    expect(byName(results, 'smoke query 1')?.status).toBe('pass');
    expect(byName(results, 'smoke query 2')).toEqual({
      name: 'smoke query 2',
      status: 'fail',
      detail: 'SELECT no_such_column FROM users: column "no_such_column" does not exist',
    });
  });

  it('runs smoke queries read-only, one statement each, under a statement timeout', async () => {
    const { statement_timeout: sessionTimeout } = (await clean.client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0] ?? {};
    const results = await validateDatabase(clean.client, {
      ...base,
      smokeQueries: ['DELETE FROM orders', 'SELECT 1; DELETE FROM orders', 'SELECT pg_sleep(5)'],
      smokeQueryTimeoutMs: 200,
    });
    expect(byName(results, 'smoke query 1')?.detail).toContain('read-only transaction');
    expect(byName(results, 'smoke query 2')?.detail).toContain('cannot insert multiple commands');
    expect(byName(results, 'smoke query 3')?.detail).toContain('statement timeout');
    expect((await clean.client.query('SELECT count(*)::int AS n FROM orders')).rows[0]).toEqual({ n: 500 });
    // Nothing the smoke queries set outlives their transaction.
    expect((await clean.client.query('SHOW statement_timeout')).rows[0]).toEqual({ statement_timeout: sessionTimeout });
    expect(sessionTimeout).not.toBe('200ms');
  });

  it("fails when the database's change differs from the expected one, naming the difference", async () => {
    const { client } = await fresh();
    const fingerprint = await schemaFingerprint(client);
    await client.query('ALTER TABLE orders ADD COLUMN status text');
    const results = await validateDatabase(client, { ...base, expectedChange: { before: fingerprint, expected: { before: fingerprint, after: fingerprint } }, expectedLabel: 'rehearsal' });
    expect(byName(results, 'schema fingerprint')).toEqual({
      name: 'schema fingerprint',
      status: 'fail',
      detail: "1 difference from the rehearsal's change: column public.orders.status: present in database, absent in rehearsal",
    });
  });
});

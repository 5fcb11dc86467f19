import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libpqEnv } from '../../src/db/target.js';
import { exactRowCounts, tableContentChecksums } from '../../src/validation/data.js';
import { diffFingerprints, fingerprintOf, schemaFingerprint, type SchemaFingerprint } from '../../src/validation/fingerprint.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { clients, targetOf } from './support.js';

/** Most kinds of object a migration creates, several with definitions that print differently by search_path. */
const RICH_SCHEMA = `
CREATE EXTENSION citext;
CREATE SCHEMA app;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive_int AS integer DEFAULT 1 CHECK (VALUE > 0);
CREATE TYPE pair AS (a integer, b text);
CREATE TABLE users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email citext NOT NULL UNIQUE,
  name text COLLATE "C",
  mood mood DEFAULT 'ok',
  score positive_int,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
  id serial PRIMARY KEY,
  user_id bigint,
  amount numeric(10, 2) CHECK (amount >= 0),
  total_cents bigint GENERATED ALWAYS AS ((amount * 100)::bigint) STORED,
  status text NOT NULL DEFAULT 'new'
);
CREATE INDEX orders_open_idx ON orders (status) WHERE status <> 'done';
CREATE TABLE app.events (id bigint NOT NULL, at date NOT NULL, payload jsonb) PARTITION BY RANGE (at);
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE app.events ADD PRIMARY KEY (id, at);
CREATE INDEX events_at_idx ON app.events (at);
CREATE SEQUENCE app.ticket_seq AS integer INCREMENT 5 START 100;
CREATE VIEW app.active_users AS SELECT id, email FROM users WHERE mood <> 'sad';
CREATE MATERIALIZED VIEW app.order_totals AS SELECT user_id, sum(amount) AS total FROM orders GROUP BY user_id;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.status := lower(NEW.status); RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE FUNCTION app.twice(x integer) RETURNS integer LANGUAGE sql IMMUTABLE STRICT BEGIN ATOMIC SELECT x * 2; END;
CREATE PROCEDURE app.noop(n integer) LANGUAGE sql AS $$ SELECT 1 $$;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_positive ON users FOR SELECT USING (id > 0);
INSERT INTO users (email, name, mood, score) SELECT 'u' || g || '@example.com', 'user ' || g, 'happy', g FROM generate_series(1, 200) g;
INSERT INTO orders (user_id, amount, status) SELECT 1 + g % 200, g / 7.0, 'NEW' FROM generate_series(1, 1000) g;
INSERT INTO orders (user_id, amount) VALUES (99999, 1);
ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
INSERT INTO app.events VALUES (1, '2024-03-01', '{"a": [1, 2]}');
SELECT nextval('app.ticket_seq');
`;

async function dumpAndRestore(source: TestDatabase, destination: TestDatabase, dir: string): Promise<void> {
  const archive = path.join(dir, 'dump.pgdump');
  // Passwords travel in PGPASSWORD (libpqEnv), never in argv.
  await execa('pg_dump', ['-Fc', '-f', archive], { env: libpqEnv(targetOf(source), { applicationName: 'fingerprint-test' }) });
  await execa('pg_restore', ['--exit-on-error', '--no-owner', '--no-acl', '-d', destination.name, archive], {
    env: libpqEnv(targetOf(destination), { applicationName: 'fingerprint-test' }),
  });
}

describe('schemaFingerprint across pg_dump -Fc and pg_restore', () => {
  const pool = clients();
  let source: TestDatabase;
  let copy: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fingerprint-'));
    source = await createTestDatabase('fp_src');
    copy = await createTestDatabase('fp_copy');
    await source.query(RICH_SCHEMA);
    await dumpAndRestore(source, copy, dir);
  });
  afterAll(async () => {
    await pool.closeAll();
    await source?.drop();
    await copy?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is equal on the restored copy, and so are row counts and content checksums', async () => {
    const original = await pool.open(source);
    const restored = await pool.open(copy);
    const before = await schemaFingerprint(original);
    const after = await schemaFingerprint(restored);
    expect(diffFingerprints(before, after, { expected: 'source', actual: 'restored' })).toEqual([]);
    expect(after.hash).toBe(before.hash);
    // The fingerprint saw what the schema holds, not an empty list.
    expect(Object.keys(before.objects)).toEqual(
      expect.arrayContaining([
        'extension citext',
        'schema app',
        'table public.users',
        'column public.users.email',
        'constraint public.orders.orders_user_id_fkey',
        'index public.orders.orders_open_idx',
        'table app.events_2024',
        'view app.active_users',
        'materialized view app.order_totals',
        'function app.touch()',
        'function app.twice(x integer)',
        'procedure app.noop(IN n integer)',
        'sequence app.ticket_seq',
        'trigger public.orders.orders_touch',
        'type public.mood',
        'type public.positive_int',
        'type public.pair',
        'policy public.users.users_positive',
      ]),
    );
    expect(before.objects['column public.users.email']).toBe('public.citext not null');
    expect(before.objects['column public.orders.status']).toBe("text not null default 'new'::text");
    expect(before.objects['column public.users.id']).toBe('bigint not null generated always as identity');
    expect(before.objects['constraint public.orders.orders_user_id_fkey']).toBe('FOREIGN KEY (user_id) REFERENCES public.users(id) NOT VALID');
    expect(before.objects['type public.mood']).toBe("enum ('sad', 'ok', 'happy')");
    // Extension members are described by the extension, not one by one.
    expect(Object.keys(before.objects).some((key) => key.startsWith('function public.citext'))).toBe(false);

    expect(await exactRowCounts(restored)).toEqual(await exactRowCounts(original));
    const checksums = await tableContentChecksums(original);
    expect(checksums['public.orders']?.rows).toBe(1001);
    expect(await tableContentChecksums(restored)).toEqual(checksums);
  });

  it('ignores content, sequence values and the search_path of the session', async () => {
    const client = await pool.open(copy);
    const before = await schemaFingerprint(client);
    await client.query(`SELECT nextval('app.ticket_seq'); INSERT INTO orders (user_id, amount) VALUES (1, 5); SET search_path = app, public`);
    expect((await schemaFingerprint(client)).hash).toBe(before.hash);
    // The fingerprint's own settings were local to its transaction.
    expect((await client.query<{ search_path: string }>('SHOW search_path')).rows[0]?.search_path).toBe('app, public');
  });
});

describe('diffFingerprints names what changed', () => {
  const pool = clients();
  let db: TestDatabase;
  let client: pg.Client;
  let previous: SchemaFingerprint;

  /** Applies `sql` and returns the differences from the previous fingerprint. */
  async function change(sql: string): Promise<string[]> {
    await client.query(sql);
    const next = await schemaFingerprint(client);
    const differences = diffFingerprints(previous, next, { expected: 'before', actual: 'after' });
    expect(next.hash === previous.hash).toBe(differences.length === 0);
    previous = next;
    return differences;
  }

  beforeAll(async () => {
    db = await createTestDatabase('fp_diff');
    await db.query(`
      CREATE TABLE users (id bigint PRIMARY KEY, email text);
      CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id), code text, status text DEFAULT 'new');
      INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 50) g;
      INSERT INTO orders SELECT g, 1 + g % 50, 'c' || g FROM generate_series(1, 200) g;`);
    client = await pool.open(db);
    previous = await schemaFingerprint(client);
  });
  afterAll(async () => {
    await pool.closeAll();
    await db?.drop();
  });

  it('an added column', async () => {
    expect(await change('ALTER TABLE orders ADD COLUMN note text')).toEqual(['column public.orders.note: present in after, absent in before']);
  });

  it('a changed default', async () => {
    expect(await change(`ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'pending'`)).toEqual([
      `column public.orders.status: before "text default 'new'::text" vs after "text default 'pending'::text"`,
    ]);
  });

  it('a constraint that became NOT VALID', async () => {
    const differences = await change(
      'ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey, ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID',
    );
    expect(differences).toEqual([
      [
        'constraint public.orders.orders_user_id_fkey: before vs after',
        '--- before',
        '+++ after',
        '@@ -1 +1 @@',
        '-FOREIGN KEY (user_id) REFERENCES public.users(id)',
        '+FOREIGN KEY (user_id) REFERENCES public.users(id) NOT VALID',
      ].join('\n'),
    ]);
  });

  it('an index left invalid by a failed CREATE UNIQUE INDEX CONCURRENTLY', async () => {
    await change('CREATE UNIQUE INDEX orders_code_key ON orders (code)');
    await change('DROP INDEX orders_code_key');
    await client.query(`UPDATE orders SET code = 'dup' WHERE id IN (1, 2)`);
    await expect(client.query('CREATE UNIQUE INDEX CONCURRENTLY orders_code_key ON orders (code)')).rejects.toThrow(/could not create unique index/);
    const invalid = await schemaFingerprint(client);
    // Compared with the fingerprint that had the same index valid: only the validity differs.
    await client.query('DROP INDEX orders_code_key');
    await client.query(`UPDATE orders SET code = 'c' || id WHERE id IN (1, 2)`);
    await client.query('CREATE UNIQUE INDEX orders_code_key ON orders (code)');
    const valid = await schemaFingerprint(client);
    expect(diffFingerprints(valid, invalid, { expected: 'rehearsal', actual: 'production' })).toEqual([
      'index public.orders.orders_code_key: rehearsal "CREATE UNIQUE INDEX orders_code_key ON public.orders USING btree (code)" vs production "CREATE UNIQUE INDEX orders_code_key ON public.orders USING btree (code) INVALID"',
    ]);
  });
});

describe('diffFingerprints ordering and summaries', () => {
  it('lists a dropped table once with its members summarised, tables before columns before indexes', () => {
    const expected = fingerprintOf([
      ['table public.a', 'table'],
      ['column public.a.id', 'bigint'],
      ['column public.a.name', 'text'],
      ['index public.a.a_pkey', 'CREATE UNIQUE INDEX a_pkey ON public.a USING btree (id)'],
      ['table public.b', 'table'],
      ['column public.b.id', 'bigint'],
      ['function public.f()', 'returns integer language sql volatile\nbody:\n SELECT 1 '],
    ]);
    const actual = fingerprintOf([
      ['table public.b', 'table'],
      ['column public.b.id', 'integer'],
      ['index public.b.b_idx', 'CREATE INDEX b_idx ON public.b USING btree (id)'],
      ['function public.f()', 'returns integer language sql volatile\nbody:\n SELECT 2 '],
    ]);
    expect(diffFingerprints(expected, actual)).toEqual([
      'table public.a: present in expected, absent in actual (with 2 columns, 1 index)',
      'column public.b.id: expected "bigint" vs actual "integer"',
      'index public.b.b_idx: present in actual, absent in expected',
      ['function public.f(): expected vs actual', '--- expected', '+++ actual', '@@ -1,3 +1,3 @@', ' returns integer language sql volatile', ' body:', '- SELECT 1 ', '+ SELECT 2 '].join('\n'),
    ]);
  });

  it('shows where long definitions start to differ', () => {
    const long = `SELECT ${Array.from({ length: 60 }, (_, i) => `c${i}`).join(', ')} FROM t`;
    const [line] = diffFingerprints(fingerprintOf([['view public.v', long]]), fingerprintOf([['view public.v', long.replace('c55', 'x55')]]));
    expect(line).toContain('x55');
    expect(line).toContain('…');
    expect(line!.length).toBeLessThan(450);
  });

  it('is empty for equal fingerprints and the hash ignores insertion order', () => {
    const a = fingerprintOf([
      ['table public.a', 'table'],
      ['column public.a.id', 'bigint'],
    ]);
    const b = fingerprintOf([
      ['column public.a.id', 'bigint'],
      ['table public.a', 'table'],
    ]);
    expect(a.hash).toBe(b.hash);
    expect(diffFingerprints(a, b)).toEqual([]);
  });
});

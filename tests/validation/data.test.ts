import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activityDelta, exactRowCounts, tableActivity, tableContentChecksums, tableRowEstimates, type TableActivity } from '../../src/validation/data.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { clients, pollUntil } from './support.js';

describe('table data', () => {
  const pool = clients();
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('data');
    await db.query(`
      CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric, seen timestamptz, tags text[], raw bytea, ratio float8);
      INSERT INTO items SELECT g, 'item ' || g, g * 1.5, '2024-01-01 12:00+02'::timestamptz + g * interval '1 hour', ARRAY['a', 'b' || g], '\\x00ff', g / 3.0 FROM generate_series(1, 300) g;
      CREATE TABLE events (id bigint NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
      CREATE TABLE events_a PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
      CREATE TABLE events_b PARTITION OF events FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');
      INSERT INTO events SELECT g, '2024-01-01'::date + g FROM generate_series(1, 300) g;
      CREATE TABLE empty (id int);
      ANALYZE;`);
  });
  afterAll(async () => {
    await pool.closeAll();
    await db?.drop();
  });

  it('estimates from the catalogs after ANALYZE, summing partitions for a partitioned table, and counts exactly', async () => {
    const client = await pool.open(db);
    expect(await tableRowEstimates(client)).toEqual({ 'public.items': 300, 'public.events': 300, 'public.events_a': 181, 'public.events_b': 119, 'public.empty': 0 });
    expect(await exactRowCounts(client)).toEqual({ 'public.items': 300, 'public.events_a': 181, 'public.events_b': 119, 'public.empty': 0 });
  });

  it('content checksums ignore row order, column order and session output settings, and see any change', async () => {
    const client = await pool.open(db);
    const first = await tableContentChecksums(client);
    expect(first['public.items']?.rows).toBe(300);
    expect(first['public.empty']).toEqual({ rows: 0, md5: first['public.empty']?.md5 });

    // Same rows, another physical order, another column order, another session's display settings.
    await db.query(`
      CREATE TABLE items_copy (ratio float8, raw bytea, tags text[], seen timestamptz, price numeric, name text, id bigint PRIMARY KEY);
      INSERT INTO items_copy SELECT ratio, raw, tags, seen, price, name, id FROM items ORDER BY id DESC;`);
    const other = await pool.open(db);
    await other.query(`SET TimeZone = 'America/New_York'; SET DateStyle = 'SQL, DMY'; SET extra_float_digits = 0; SET bytea_output = 'escape'`);
    expect((await tableContentChecksums(other))['public.items_copy']).toEqual(first['public.items']);

    await client.query(`UPDATE items_copy SET name = 'changed' WHERE id = 17`);
    expect((await tableContentChecksums(client))['public.items_copy']?.md5).not.toBe(first['public.items']?.md5);
    await client.query(`UPDATE items_copy SET name = 'item 17' WHERE id = 17`);
    expect((await tableContentChecksums(client))['public.items_copy']).toEqual(first['public.items']);
    // A duplicated row is a different multiset, even where a set would look the same.
    await client.query(`ALTER TABLE items_copy DROP CONSTRAINT items_copy_pkey; INSERT INTO items_copy SELECT * FROM items_copy WHERE id = 1`);
    expect((await tableContentChecksums(client))['public.items_copy']?.rows).toBe(301);
    await client.query('DROP TABLE items_copy');
  });

  it('tableActivity and activityDelta count the rows changed after a snapshot', async () => {
    const client = await pool.open(db);
    const before = await tableActivity(client);
    const writer = await pool.open(db, 'activity-writer');
    await writer.query(`
      INSERT INTO items (id, name) SELECT g, 'new ' || g FROM generate_series(1001, 1010) g;
      UPDATE items SET name = 'renamed' WHERE id IN (1, 2, 3);
      DELETE FROM items WHERE id IN (4, 5);
      INSERT INTO events VALUES (9001, '2024-02-01');`);
    // Statistics reach shared memory asynchronously (a busy backend flushes at most once a second, an
    // idle one within 10 s): poll until the counts arrive instead of sleeping a guessed time.
    const expected: Record<string, TableActivity> = {
      'public.items': { inserted: 10, updated: 3, deleted: 2 },
      'public.events_a': { inserted: 1, updated: 0, deleted: 0 },
    };
    const watched = (all: Record<string, TableActivity>) => Object.fromEntries(Object.entries(all).filter(([table]) => table.startsWith('public.items') || table.startsWith('public.events')));
    const delta = await pollUntil(
      async () => watched(activityDelta(before, await tableActivity(client))),
      (value) => isDeepStrictEqual(value, expected),
      20_000,
      200,
    );
    expect(delta).toEqual(expected);
  });

  it('activityDelta treats new tables as counted from zero and a counter reset as a restart', () => {
    const before = { 'public.a': { inserted: 100, updated: 10, deleted: 5 }, 'public.gone': { inserted: 1, updated: 0, deleted: 0 } };
    const after = {
      'public.a': { inserted: 3, updated: 12, deleted: 5 },
      'public.new': { inserted: 7, updated: 0, deleted: 1 },
      'public.same': { inserted: 0, updated: 0, deleted: 0 },
    };
    expect(activityDelta(before, after)).toEqual({
      'public.a': { inserted: 3, updated: 2, deleted: 0 },
      'public.new': { inserted: 7, updated: 0, deleted: 1 },
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTableRows, destroyedBetween, readTableShapes } from '../../src/lint/rehearsed.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { clients } from './support.js';

describe('destroyedBetween: what a migration destroyed, from the catalog before and after', () => {
  const pool = clients();
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('destroyed');
    await db.query(`
      CREATE TABLE doomed (id int); INSERT INTO doomed SELECT generate_series(1, 7);
      CREATE TABLE kept (id int, note text, renamed_col text, amount integer, code text, price numeric(10, 2), wide varchar(5));
      INSERT INTO kept (id) SELECT generate_series(1, 12);
      CREATE TABLE old_name (id int); INSERT INTO old_name VALUES (1);
      CREATE TABLE alembic_version (version_num varchar(32) NOT NULL);`);
  });
  afterAll(async () => {
    await pool.closeAll();
    await db?.drop();
  });

  it('names dropped tables and columns and narrowed types with the rows before; renames and widenings are not losses', async () => {
    const client = await pool.open(db);
    const bookkeeping = new Set(['alembic_version']);
    const before = await readTableShapes(client, bookkeeping);
    const rows = await countTableRows(client, before, 1_000_000);
    await client.query(`
      DROP TABLE doomed;
      DROP TABLE alembic_version;
      ALTER TABLE kept DROP COLUMN note;
      ALTER TABLE kept RENAME COLUMN renamed_col TO better_name;
      ALTER TABLE kept ALTER COLUMN amount TYPE bigint;
      ALTER TABLE kept ALTER COLUMN code TYPE varchar(3);
      ALTER TABLE kept ALTER COLUMN price TYPE numeric(8, 2);
      ALTER TABLE kept ALTER COLUMN wide TYPE varchar(50);
      ALTER TABLE old_name RENAME TO new_name;`);
    const after = await readTableShapes(client, bookkeeping);
    const changes = destroyedBetween(before, after, rows);
    expect(changes).toEqual(
      expect.arrayContaining([
        { kind: 'drop-table', table: 'public.doomed', rows: 7, rowsExact: true, foundBy: 'rehearsal' },
        { kind: 'drop-column', table: 'public.kept', column: 'note', rows: 12, rowsExact: true, foundBy: 'rehearsal' },
        { kind: 'type-change', table: 'public.kept', column: 'code', fromType: 'text', toType: 'character varying(3)', rows: 12, rowsExact: true, foundBy: 'rehearsal' },
        { kind: 'type-change', table: 'public.kept', column: 'price', fromType: 'numeric(10,2)', toType: 'numeric(8,2)', rows: 12, rowsExact: true, foundBy: 'rehearsal' },
      ]),
    );
    expect(changes).toHaveLength(4);
  });
});

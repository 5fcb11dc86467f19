import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { analyzeDestructive, analyzeDowngrade, describeChange } from '../../src/lint/index.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject, type TestProject } from '../harness/project.js';
import { alembicOutOfBand } from '../harness/tools.js';
import { contextFor, EXTRA, HEAD, projectWithMigration } from './helpers.js';

const ORDERS = 1234;

describe('destructive-change analysis against the live database', () => {
  let db: TestDatabase;
  let project: TestProject;

  beforeAll(async () => {
    db = await createTestDatabase('destr');
    project = projectWithMigration(['CREATE TABLE notes (id bigint PRIMARY KEY, body text)'], ['DROP TABLE notes']);
    await alembicOutOfBand(project.migrationsDir, db.url, ['upgrade', EXTRA]);
    await db.query("INSERT INTO users (email) SELECT 'u' || g || '@example.com' FROM generate_series(1, 3) g");
    await db.query(`INSERT INTO orders (user_id, total_cents) SELECT 1 + g % 3, g FROM generate_series(1, ${ORDERS}) g`);
    await db.query('INSERT INTO notes SELECT g, repeat($1, 3) FROM generate_series(1, 7) g', ['x']);
  });
  afterAll(() => db.drop());

  const target = () => parseDatabaseUrl(db.url);

  it('a downgrade that drops a table states the table and its row count, per migration, newest first', async () => {
    const analysis = await analyzeDowngrade(contextFor(project, db.url), target(), { from: EXTRA, to: '001_create_users' });
    expect(analysis.known).toBe(true);
    if (!analysis.known) return;
    expect(analysis.changes.map((change) => [change.migration, change.kind, change.table, change.column ?? '', change.rows, change.rowsExact])).toEqual([
      [EXTRA, 'drop-table', 'notes', '', 7, true],
      [HEAD, 'drop-column', 'orders', 'status', ORDERS, true],
      ['002_create_orders', 'drop-table', 'orders', '', ORDERS, true],
    ]);
    expect(analysis.changes[2]?.statement).toBe('DROP TABLE orders');
    expect(describeChange(analysis.changes[2]!)).toBe(`drops table orders holding ${ORDERS} rows`);
  });

  it('a downgrade to base reports every table and column it drops', async () => {
    const analysis = await analyzeDowngrade(contextFor(project, db.url), target(), { from: EXTRA, to: null });
    expect(analysis.known && analysis.changes.map((change) => change.table)).toEqual(['notes', 'orders', 'orders', 'users']);
  });

  it('narrowing type changes are reported with both types; widening ones are not', async () => {
    const context = contextFor(project, db.url);
    const changes = await analyzeDestructive(
      context,
      target(),
      `ALTER TABLE orders ALTER COLUMN total_cents TYPE smallint;
       ALTER TABLE orders ALTER COLUMN total_cents TYPE bigint;
       ALTER TABLE users ALTER COLUMN email TYPE varchar(20);
       ALTER TABLE orders ALTER COLUMN status TYPE varchar;`,
      EXTRA,
    );
    expect(changes.map((change) => [change.table, change.column, change.fromType, change.toType, change.rows])).toEqual([
      ['orders', 'total_cents', 'integer', 'smallint', ORDERS],
      ['users', 'email', 'text', 'character varying(20)', 3],
    ]);
  });

  it('TRUNCATE and DROP SCHEMA ... CASCADE count what they remove', async () => {
    await db.query('CREATE SCHEMA scratch; CREATE TABLE scratch.a AS SELECT g FROM generate_series(1, 5) g; CREATE TABLE scratch.b AS SELECT g FROM generate_series(1, 6) g');
    const changes = await analyzeDestructive(contextFor(project, db.url), target(), 'TRUNCATE notes; DROP SCHEMA scratch CASCADE; DROP SCHEMA IF EXISTS other;');
    expect(changes.map((change) => [change.kind, change.table, change.rows])).toEqual([
      ['truncate', 'notes', 7],
      ['drop-schema', 'scratch', 11],
    ]);
  });

  it('beyond safety.exactCountLimit the planner estimate stands in, marked as such', async () => {
    const limited = makeProject('alembic-project', { safety: { exactCountLimit: 10 } });
    await db.query('ANALYZE orders');
    const [change] = await analyzeDestructive(contextFor(limited, db.url), target(), 'DROP TABLE orders');
    expect(change).toMatchObject({ kind: 'drop-table', table: 'orders', rowsExact: false });
    expect(change?.rows).toBeGreaterThan(ORDERS / 2);
    expect(describeChange(change!)).toMatch(/^drops table orders holding about \d+ rows \(estimate\)$/);
  });

  it('a table the range creates first holds no rows yet', async () => {
    const changes = await analyzeDestructive(contextFor(project, db.url), target(), 'CREATE TABLE tmp_x (a int); DROP TABLE tmp_x;');
    expect(changes.map((change) => [change.table, change.rows])).toEqual([['tmp_x', 0]]);
  });

  it('node-pg-migrate cannot render a downgrade: the loss is unknown, not none', async () => {
    const npm = makeProject('node-pg-migrate-project');
    const analysis = await analyzeDowngrade(contextFor(npm, db.url), target(), { from: '1700000000002_create-orders', to: null });
    expect(analysis).toEqual({ known: false, reason: expect.stringContaining('node-pg-migrate') });
  });
});

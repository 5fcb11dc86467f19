import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseExists, type TestDatabase } from '../harness/db.js';
import { schemaDump, tableContents } from '../harness/oracle.js';
import { alembicOutOfBand } from '../harness/tools.js';
import { addRevision, IN_PRODUCTION, latestReport, scenario, scratchDatabases, sql, type Scenario } from './helpers.js';

/**
 * Objects whose stored expressions pg_dump/pg_restore print differently (an IN list on varchar in a
 * CHECK, a partial index and a default): every rehearsal copy reads them differently from production.
 */
const RERENDERED = `
ALTER TABLE orders ADD COLUMN channel varchar(10) NOT NULL DEFAULT 'web', ADD CONSTRAINT orders_channel_check CHECK (channel IN ('web', 'shop'));
CREATE INDEX orders_open_channel ON orders (user_id) WHERE channel IN ('web', 'shop');
ALTER TABLE users ADD COLUMN internal boolean DEFAULT ('web'::varchar IN ('web', 'shop'));
`;

let current: Scenario | undefined;
const extraDatabases: TestDatabase[] = [];
const tempDirs: string[] = [];
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
  for (const db of extraDatabases.splice(0)) await db.drop();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function setUp(config: Record<string, unknown> = {}): Promise<Scenario> {
  current = await scenario(config);
  await current.db.query(RERENDERED);
  return current;
}

/**
 * The oracle for "production is as before the run" when the run restored it from a backup: what the
 * test's own pg_dump and pg_restore make of production before the run, compared by pg_dump
 * --schema-only and row checksums (a restore prints the re-rendered expressions as the copy does).
 */
async function restoredReference(s: Scenario): Promise<{ schema: string; contents: Awaited<ReturnType<typeof tableContents>> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rerendered-'));
  tempDirs.push(dir);
  const reference = await createTestDatabase('pipe_ref');
  extraDatabases.push(reference);
  const url = new URL(s.db.url);
  const env = { PGHOST: url.hostname, PGPORT: url.port, PGUSER: decodeURIComponent(url.username), PGPASSWORD: decodeURIComponent(url.password) };
  await execa('pg_dump', ['-Fc', '-f', path.join(dir, 'reference.pgdump'), '-d', s.db.name], { env });
  await execa('pg_restore', ['--exit-on-error', '--no-owner', '-d', reference.name, path.join(dir, 'reference.pgdump')], { env });
  return { schema: await schemaDump(reference.name), contents: await tableContents(reference.name) };
}

describe('re-rendered CHECK, partial index and default, untouched by the migration', () => {
  it('an unrelated upgrade validates: exit 0', async () => {
    const s = await setUp();
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const upgrade = await s.cli('upgrade', '--yes');
    expect(upgrade.exitCode, upgrade.stdout + upgrade.stderr).toBe(0);
    const fingerprint = (latestReport(s.project).details.validation as { name: string; status: string; detail: string }[]).find((check) => check.name === 'schema fingerprint');
    expect(fingerprint).toMatchObject({ status: 'pass' });
    expect(fingerprint?.detail).toMatch(/changed as in the rehearsal: 1 object created, dropped or altered/);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });

  it('the downgrade back validates: exit 0', async () => {
    const s = await setUp();
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    await alembicOutOfBand(s.project.migrationsDir, s.db.url, ['upgrade', 'head']);
    const downgrade = await s.cli('downgrade', '003_add_order_status', '--yes');
    expect(downgrade.exitCode, downgrade.stdout + downgrade.stderr).toBe(0);
    expect((await s.db.query<{ version_num: string }>('SELECT version_num FROM alembic_version'))[0]?.version_num).toBe('003_add_order_status');
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });

  it('a migration that re-creates the re-rendered CHECK validates too', async () => {
    const s = await setUp();
    addRevision(
      s.project,
      '004_recreate_check',
      '003_add_order_status',
      sql(`ALTER TABLE orders DROP CONSTRAINT orders_channel_check, ADD CONSTRAINT orders_channel_check CHECK (channel IN ('web', 'shop'))`),
      'pass',
    );
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
  });

  it('the restore from backup verifies: exit 6, not 7, and production is as before by pg_dump and row checksums', async () => {
    const s = await setUp({ rollback: { restore: 'auto' } });
    // Production does more than the rehearsal (validation fails) and the downgrade raises: only a restore can undo it.
    addRevision(
      s.project,
      '004_differs_in_production',
      '003_add_order_status',
      `${sql('ALTER TABLE users ADD COLUMN nickname text')}\n    ${sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN ALTER TABLE users ADD COLUMN production_only int; END IF; END $$`)}`,
      'raise RuntimeError("no way back")',
    );
    const reference = await restoredReference(s);
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(6);
    // The real difference is caught and named.
    expect(result.stdout).toMatch(/column public\.users\.production_only: present in database, absent in rehearsal/);
    const report = latestReport(s.project);
    expect(report.details.rollback).toMatchObject({ path: 'restore', verified: true });
    expect(await schemaDump(s.db.name)).toBe(reference.schema);
    expect(await tableContents(s.db.name)).toEqual(reference.contents);
    const kept = (report.details.rollback as { keptFailedDatabase: string }).keptFailedDatabase;
    expect(await databaseExists(kept)).toBe(true);
    await s.db.query(`DROP DATABASE "${kept}" WITH (FORCE)`);
  });

  it('a downgrade that forgets an index is caught by the rollback verification', async () => {
    const s = await setUp({ rollback: { restore: 'never' } });
    addRevision(
      s.project,
      '004_index_and_more',
      '003_add_order_status',
      `${sql('CREATE INDEX users_created_at ON users (created_at)')}\n    ${sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN ALTER TABLE users ADD COLUMN production_only int; END IF; END $$`)}`,
      sql('ALTER TABLE users DROP COLUMN IF EXISTS production_only'),
    );
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(7);
    const rollback = latestReport(s.project).details.rollback as { path: string; verified: boolean; differences: string[] };
    expect(rollback.verified).toBe(false);
    expect(rollback.differences).toEqual(['index public.users.users_created_at: present in now, absent in before the run']);
  });
});

describe('orchestrate test on a database with re-rendered objects', () => {
  it('passes when the downgrade re-creates a re-rendered CHECK exactly', async () => {
    const s = await setUp();
    addRevision(
      s.project,
      '004_drop_check',
      '003_add_order_status',
      sql('ALTER TABLE orders DROP CONSTRAINT orders_channel_check'),
      sql(`ALTER TABLE orders ADD CONSTRAINT orders_channel_check CHECK (channel IN ('web', 'shop'))`),
    );
    const result = await s.cli('test');
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
  });

  it('exits 5 when the downgrade re-creates the CHECK with another list, showing the diff', async () => {
    const s = await setUp();
    addRevision(
      s.project,
      '004_drop_check',
      '003_add_order_status',
      sql('ALTER TABLE orders DROP CONSTRAINT orders_channel_check'),
      sql(`ALTER TABLE orders ADD CONSTRAINT orders_channel_check CHECK (channel IN ('web', 'shop', 'app'))`),
    );
    const result = await s.cli('test');
    expect(result.exitCode, result.stdout + result.stderr).toBe(5);
    expect(result.stdout).toMatch(/constraint public\.orders\.orders_channel_check: the start vs the schema after downgrade/);
    expect(result.stdout).toMatch(/\n\+CHECK .*'app'::character varying/);
  });

  it('exits 5 when the downgrade forgets to drop a constraint', async () => {
    const s = await setUp();
    addRevision(s.project, '004_add_check', '003_add_order_status', sql(`ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total_cents >= 0)`), 'pass');
    const result = await s.cli('test');
    expect(result.exitCode, result.stdout + result.stderr).toBe(5);
    expect(result.stdout).toMatch(/constraint public\.orders\.orders_total_positive: present in the schema after downgrade, absent in the start/);
  });

  it('exits 5 when the downgrade leaves a different function body, shown as a unified diff', async () => {
    const s = await setUp();
    const fn = (body: string) => sql(`CREATE OR REPLACE FUNCTION order_count() RETURNS bigint LANGUAGE plpgsql AS $f$\nBEGIN\n  ${body}\nEND\n$f$`);
    await s.db.query(`CREATE FUNCTION order_count() RETURNS bigint LANGUAGE plpgsql AS $f$\nBEGIN\n  RETURN (SELECT count(*) FROM orders);\nEND\n$f$`);
    addRevision(s.project, '004_count_open', '003_add_order_status', fn(`RETURN (SELECT count(*) FROM orders WHERE status = 'new');`), fn(`RETURN (SELECT count(*) FROM orders WHERE true);`));
    const result = await s.cli('test');
    expect(result.exitCode, result.stdout + result.stderr).toBe(5);
    expect(result.stdout).toContain('function public.order_count(): the start vs the schema after downgrade\n--- the start\n+++ the schema after downgrade\n@@');
    expect(result.stdout).toContain('\n-  RETURN (SELECT count(*) FROM orders);\n+  RETURN (SELECT count(*) FROM orders WHERE true);\n');
  });
});

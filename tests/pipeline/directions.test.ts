import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { runCli } from '../harness/cli.js';
import { makeProject } from '../harness/project.js';
import { nodePgMigrateOutOfBand } from '../harness/tools.js';
import { addRevision, databaseState, expectUnchanged, latestReport, scenario, scratchDatabases, sql, type Scenario } from './helpers.js';

let current: Scenario | undefined;
let extra: TestDatabase | undefined;
afterEach(async () => {
  await current?.db.drop();
  await extra?.drop();
  current = undefined;
  extra = undefined;
});

describe('downgrade and rollback', () => {
  it('downgrade -1 runs the pipeline in reverse: rehearsed, validated, one step back', async () => {
    const s = (current = await scenario());
    const result = await s.cli('downgrade', '-1', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect((await databaseState(s.db.url)).revision).toBe('002_create_orders');
    const report = latestReport(s.project);
    expect(report.steps.find((step) => step.name === 'rehearsal')?.status).toBe('succeeded');
    expect(JSON.stringify(report.details.destructive)).toMatch(/drop-column/);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });

  it('rollback whose downgrade breaks half-way, and cannot be undone by the tool, is restored from the backup (rollback.restore=auto)', async () => {
    const s = (current = await scenario({ rollback: { restore: 'auto' } }));
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), 'raise RuntimeError("cannot go back")');
    // A sloppy downgrade: it renames instead of dropping, so re-applying 005 leaves an extra table behind.
    addRevision(s.project, '005_add_t5', '004_add_nickname', sql('CREATE TABLE t5 (id integer)'), sql('ALTER TABLE t5 RENAME TO t5_old'));
    expect((await s.cli('upgrade', '--yes')).exitCode).toBe(0);
    const before = await databaseState(s.db.url);
    const result = await s.cli('rollback', '003_add_order_status', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(6);
    expect(result.stdout).toMatch(/restored from backup/);
    await expectUnchanged(s.db.url, before);
    const kept = (latestReport(s.project).details.rollback as { keptFailedDatabase: string }).keptFailedDatabase;
    await s.db.query(`DROP DATABASE IF EXISTS "${kept}" WITH (FORCE)`);
  });

  it('a downgrade that fails before changing anything is undone by the tool: exit 6, verified', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), 'raise RuntimeError("cannot go back")');
    expect((await s.cli('upgrade', '--yes')).exitCode).toBe(0);
    const before = await databaseState(s.db.url);
    const result = await s.cli('rollback', '003_add_order_status', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(6);
    expect(result.stdout).toMatch(/cannot go back.*verified equal to before the run/s);
    await expectUnchanged(s.db.url, before);
  });
});

describe('other migration tools through the same pipeline', () => {
  it('node-pg-migrate: upgrade to head, then a production failure rolled back by its down migration', async () => {
    const db = (extra = await createTestDatabase('npm'));
    const project = makeProject('node-pg-migrate-project');
    await nodePgMigrateOutOfBand(project.migrationsDir, db.url, ['up', '2']);
    const cli = (...args: string[]) => runCli(args, { cwd: project.dir, env: { DATABASE_URL: db.url } });
    const up = await cli('upgrade', '--yes');
    expect(up.exitCode, up.stdout + up.stderr).toBe(0);
    expect(await db.query('SELECT name FROM pgmigrations ORDER BY id')).toHaveLength(3);

    const { writeFileSync } = await import('node:fs');
    const path = await import('node:path');
    writeFileSync(
      path.join(project.migrationsDir, 'migrations', '1700000000004_fails-in-production.js'),
      `export const up = (pgm) => pgm.sql("DO $$ BEGIN IF current_database() NOT LIKE '%rehearsal%' THEN RAISE EXCEPTION 'boom in production'; END IF; END $$");\nexport const down = () => {};\n`,
    );
    const before = await databaseState(db.url);
    const failed = await cli('upgrade', '--yes');
    expect(failed.exitCode, failed.stdout + failed.stderr).toBe(6);
    expect(failed.stdout).toMatch(/boom in production/);
    await expectUnchanged(db.url, before);
  });

  it('command adapter: any tool through argv templates', async () => {
    const s = (current = await scenario({
      migrator: {
        tool: 'command',
        commands: {
          upgrade: ['alembic', 'upgrade', '{target}'],
          downgrade: ['alembic', 'downgrade', '{target}'],
          current: ['sh', '-c', 'alembic current | cut -d" " -f1'],
          list: ['sh', '-c', `alembic history | sed -E 's/^.* -> ([^ ,]+)( \\(head\\))?, (.*)$/\\1 \\3/' | tac`],
        },
      },
    }));
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    expect((await s.cli('check')).exitCode).toBe(8);
    const history = await s.cli('history');
    expect(history.stdout).toMatch(/pending\s+004_add_nickname/);
    const up = await s.cli('upgrade', '--yes');
    expect(up.exitCode, up.stdout + up.stderr).toBe(0);
    expect((await s.cli('current')).stdout).toMatch(/^004_add_nickname/);
  });
});

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject, type TestProject } from '../harness/project.js';
import { alembicOutOfBand, nodePgMigrateOutOfBand } from '../harness/tools.js';

const tools = [
  {
    fixture: 'alembic-project' as const,
    ids: ['001_create_users', '002_create_orders', '003_add_order_status'],
    apply: (project: TestProject, db: TestDatabase, target: string) => alembicOutOfBand(project.migrationsDir, db.url, ['upgrade', target]),
    applyOne: (project: TestProject, db: TestDatabase) => alembicOutOfBand(project.migrationsDir, db.url, ['upgrade', '+1']),
  },
  {
    fixture: 'node-pg-migrate-project' as const,
    ids: ['1700000000001_create-users', '1700000000002_create-orders', '1700000000003_add-order-status'],
    apply: (project: TestProject, db: TestDatabase) => nodePgMigrateOutOfBand(project.migrationsDir, db.url, ['up', '2']),
    applyOne: (project: TestProject, db: TestDatabase) => nodePgMigrateOutOfBand(project.migrationsDir, db.url, ['up', '1']),
  },
];

describe.each(tools)('read-only commands with $fixture', ({ fixture, ids, apply, applyOne }) => {
  let db: TestDatabase;
  let project: TestProject;
  const [first, second, third] = ids as [string, string, string];

  beforeAll(async () => {
    db = await createTestDatabase('status');
    project = makeProject(fixture);
    await apply(project, db, second);
  });
  afterAll(() => db.drop());

  const cli = (...args: string[]) => runCli(args, { cwd: project.dir, env: { DATABASE_URL: db.url } });

  it('current prints the applied head', async () => {
    const result = await cli('current');
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim().split(/\s+/)[0]).toBe(second);
    const json = JSON.parse((await cli('current', '--json')).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ current: second, head: third, atHead: false });
  });

  it('history marks two applied and one pending', async () => {
    const result = await cli('history');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`applied\\s+${first}`));
    expect(result.stdout).toMatch(new RegExp(`applied\\s+${second}`));
    expect(result.stdout).toMatch(new RegExp(`pending\\s+${third}`));
    const json = JSON.parse((await cli('history', '--json')).stdout) as { migrations: { id: string; applied: boolean }[] };
    expect(json.migrations.map((m) => [m.id, m.applied])).toEqual([
      [first, true],
      [second, true],
      [third, false],
    ]);
  });

  it('check exits 8 while one is pending, 0 once it is applied out of band', async () => {
    const pending = await cli('check');
    expect(pending.exitCode).toBe(8);
    expect(pending.stdout).toContain(third);
    expect(JSON.parse((await cli('check', '--json')).stdout)).toMatchObject({ upToDate: false, pending: [{ id: third }] });

    await applyOne(project, db);
    const upToDate = await cli('check');
    expect(upToDate.exitCode).toBe(0);
    expect(upToDate.stdout).toContain(`up to date at ${third}`);
  });

  it('writes a JSON-lines log per run under logs/', () => {
    const logs = readdirSync(path.join(project.dir, 'logs'));
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.every((name) => /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-[0-9a-f]{8}\.jsonl$/.test(name))).toBe(true);
  });
});

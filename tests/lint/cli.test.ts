import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject } from '../harness/project.js';
import { alembicOutOfBand } from '../harness/tools.js';
import { EXTRA, projectWithMigration } from './helpers.js';

// The built CLI (npm run build) as a real process: exit codes and output are the contract.
describe('orchestrate lint', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('lintcli');
    await alembicOutOfBand(makeProject('alembic-project').migrationsDir, db.url, ['upgrade', 'head']);
    await db.query(`INSERT INTO users (email) VALUES ('a@example.com')`);
    await db.query('INSERT INTO orders (user_id, total_cents) SELECT 1, g FROM generate_series(1, 42) g');
  });
  afterAll(() => db.drop());

  const lint = (upgrade: string[], ...args: string[]) => runCli(['lint', ...args], { cwd: projectWithMigration(upgrade).dir, env: { DATABASE_URL: db.url } });

  it('exits 3 when a finding blocks, and prints it as a table row with the rule and its link', async () => {
    const result = await lint(['CREATE INDEX orders_total_idx ON orders (total_cents)']);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toMatch(/^BLOCK\s+require-concurrent-index-creation\s+004_x\s+orders\s+During normal index creation.*\(https:\/\/squawkhq\.com\/docs\/require-concurrent-index-creation\)$/m);
    expect(result.stdout).toContain('1 migration linted: 1 block, 0 warn, 0 info');
  });

  it('--json: one document with the findings and the destructive changes and their row counts; warnings alone exit 0', async () => {
    const result = await lint(['ALTER TABLE orders DROP COLUMN status'], '--json');
    expect(result.exitCode).toBe(0);
    const json = JSON.parse(result.stdout) as { blocking: number; migrations: string[]; findings: { source: string; rule: string; severity: string }[]; destructive: { kind: string; table: string; column: string; rows: number }[] };
    expect(json.blocking).toBe(0);
    expect(json.migrations).toEqual([EXTRA]);
    expect(json.findings.map((finding) => [finding.source, finding.rule, finding.severity])).toEqual([
      ['static', 'ban-drop-column', 'warn'],
      ['destructive', 'drop-column', 'warn'],
    ]);
    expect(json.destructive).toMatchObject([{ kind: 'drop-column', table: 'orders', column: 'status', rows: 42 }]);
  });

  it('a clean migration exits 0 with no findings', async () => {
    const result = await lint(['ALTER TABLE orders ADD COLUMN note text']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe('1 migration linted: no findings');
  });

  it('nothing pending: exits 0 and says so', async () => {
    const result = await runCli(['lint'], { cwd: makeProject('alembic-project').dir, env: { DATABASE_URL: db.url } });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe('nothing to lint: no pending migration up to 003_add_order_status');
  });

  it('a misspelt severity in policy.severities is a configuration error (exit 2)', async () => {
    const project = makeProject('alembic-project', { policy: { severities: { 'require-concurrent-index-creaton': 'warn' } } });
    const result = await runCli(['lint'], { cwd: project.dir, env: { DATABASE_URL: db.url } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('require-concurrent-index-creaton');
  });
});

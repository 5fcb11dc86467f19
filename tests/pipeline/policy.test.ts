import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI } from '../harness/cli.js';
import { withAdmin } from '../harness/db.js';
import { addRevision, databaseState, expectUnchanged, latestReport, scenario, sql, type Scenario } from './helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

async function bigTable(s: Scenario): Promise<void> {
  await s.db.query('CREATE TABLE big (id integer PRIMARY KEY, amount integer NOT NULL)');
  await s.db.query('INSERT INTO big SELECT i, i FROM generate_series(1, 200000) AS i');
  await s.db.query('ANALYZE big');
}

describe('the safety policy in the pipeline', () => {
  it('a rewrite of a 200k-row table is refused in production with what the rehearsal measured; --force --reason proceeds and is recorded', async () => {
    const s = (current = await scenario({ env: 'production' }));
    await bigTable(s);
    addRevision(s.project, '004_widen_amount', '003_add_order_status', sql('ALTER TABLE big ALTER COLUMN amount TYPE bigint'), sql('ALTER TABLE big ALTER COLUMN amount TYPE integer'));
    const before = await databaseState(s.db.url);

    const refused = await s.cli('upgrade', '--yes');
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(3);
    expect(refused.stdout).toMatch(/rewrote public\.big \(200000 rows, limit 100000\) under an ACCESS EXCLUSIVE lock held \d+ ms/);
    await expectUnchanged(s.db.url, before);

    const withoutReason = await s.cli('upgrade', '--yes', '--force');
    expect(withoutReason.exitCode).toBe(2);
    await expectUnchanged(s.db.url, before);

    const forced = await s.cli('upgrade', '--yes', '--force', '--reason', 'maintenance window 42');
    expect(forced.exitCode, forced.stdout + forced.stderr).toBe(0);
    const report = latestReport(s.project);
    expect(report.details.policyOverride).toMatchObject({ reason: 'maintenance window 42' });
    expect(JSON.stringify(report.details.findings)).toMatch(/table-rewrite/);
  });

  it('ADD COLUMN ... DEFAULT 5 on the same table is not a rewrite and is not blocked', async () => {
    const s = (current = await scenario({ env: 'production' }));
    await bigTable(s);
    addRevision(s.project, '004_add_score', '003_add_order_status', sql('ALTER TABLE big ADD COLUMN score integer DEFAULT 5'), sql('ALTER TABLE big DROP COLUMN score'));
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const report = latestReport(s.project);
    expect((report.details.rehearsal as { rewrittenTables: string[] }).rewrittenTables).toEqual([]);
  });

  it('a session idle in transaction on the target table is named in preflight with its pid and age', async () => {
    const s = (current = await scenario({ pipeline: { longTransactionSeconds: 1 }, preflight: { idleInTransactionSeconds: 1 } }));
    addRevision(s.project, '004_add_flag', '003_add_order_status', sql('ALTER TABLE orders ADD COLUMN flagged boolean'), sql('ALTER TABLE orders DROP COLUMN flagged'));
    const idle = new (await import('pg')).default.Client({ connectionString: s.db.url, application_name: 'forgotten-console' });
    await idle.connect();
    await idle.query('BEGIN');
    await idle.query('SELECT count(*) FROM orders');
    const pid = (await idle.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const result = await s.cli('upgrade', '--dry-run');
    await idle.query('ROLLBACK');
    await idle.end();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`WARN sessions:idle-in-transaction: .*pid ${pid} \\(application "forgotten-console", user \\w+, idle in transaction for [\\d.]+ ?\\w+`));
  });

  it('rollback to a revision that drops a table holding rows states it, and waits for confirmation without --yes', async () => {
    const s = (current = await scenario({ env: 'production' }));
    const before = await databaseState(s.db.url);
    const refused = await s.cli('rollback', '001_create_users');
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(3);
    expect(refused.stdout + refused.stderr).toMatch(/drops table (public\.)?orders holding 2000 rows/);
    await expectUnchanged(s.db.url, before);

    // On a terminal it asks, and waits: answering "no" leaves everything as it was.
    const command = `node ${CLI} rollback 001_create_users`;
    const onTerminal = await execa('script', ['-qec', command, '/dev/null'], {
      cwd: s.project.dir,
      env: { DATABASE_URL: s.db.url },
      input: 'no\n',
      reject: false,
    });
    expect(onTerminal.stdout).toMatch(/drops table (public\.)?orders holding 2000 rows[\s\S]*Type "yes" to continue/);
    expect(onTerminal.stdout).toMatch(/not confirmed/);
    await expectUnchanged(s.db.url, before);
    expect(await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_database WHERE datname LIKE $1`, [`${s.db.name}\\_%`])).rowCount)).toBe(0);
  });
});

describe('lint --rehearse', () => {
  it('adds what a rehearsal on a scratch copy measured; blocks in production; leaves no trace', async () => {
    const s = (current = await scenario({ env: 'production', policy: { rewriteRowLimit: 1000 } }));
    await s.db.query('CREATE TABLE wide (id integer PRIMARY KEY, amount integer NOT NULL)');
    await s.db.query('INSERT INTO wide SELECT i, i FROM generate_series(1, 5000) AS i');
    addRevision(s.project, '004_widen', '003_add_order_status', sql('ALTER TABLE wide ALTER COLUMN amount TYPE bigint'), sql('ALTER TABLE wide ALTER COLUMN amount TYPE integer'));
    const before = await databaseState(s.db.url);
    const result = await s.cli('lint', '--rehearse', '--json');
    expect(result.exitCode, result.stderr).toBe(3);
    const report = JSON.parse(result.stdout) as { findings: { source: string; rule: string; severity: string; message: string }[] };
    expect(report.findings).toContainEqual(expect.objectContaining({ source: 'dynamic', rule: 'table-rewrite', severity: 'block', message: expect.stringContaining('public.wide (5000 rows') }));
    await expectUnchanged(s.db.url, before);
    const { existsSync } = await import('node:fs');
    const path = await import('node:path');
    expect(existsSync(path.join(s.project.dir, 'backups'))).toBe(false);
    expect(await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_database WHERE starts_with(datname, $1 || '_')`, [s.db.name])).rowCount)).toBe(0);
  });
});

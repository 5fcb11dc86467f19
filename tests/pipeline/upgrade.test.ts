import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { databaseExists } from '../harness/db.js';
import { alembicRevision } from '../harness/oracle.js';
import { readAudit } from '../../src/report/audit.js';
import { addRevision, databaseState, expectUnchanged, failingToolDir, IN_PRODUCTION, latestReport, runBackends, scenario, scenarioWithConfig, scratchDatabases, sql, type Scenario } from './helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

async function setUp(config: Record<string, unknown> = {}): Promise<Scenario> {
  current = await scenario(config);
  return current;
}

describe('upgrade: success path', () => {
  it('migrates to head, verifies the backup, drops the scratch database, reports success', async () => {
    const s = await setUp();
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(0);
    expect((await databaseState(s.db.url)).revision).toBe('004_add_nickname');
    const report = latestReport(s.project);
    expect(report.outcome).toBe('succeeded');
    expect(report.steps.map((step) => [step.name, step.status])).toEqual([
      ['preflight', 'succeeded'],
      ['tool target', 'succeeded'],
      ['lock', 'succeeded'],
      ['backup', 'succeeded'],
      ['rehearsal', 'succeeded'],
      ['policy', 'succeeded'],
      ['migrate', 'succeeded'],
      ['validate', 'succeeded'],
    ]);
    expect(report.details.backup).toMatchObject({ verified: true });
    expect(await scratchDatabases(s.db.name)).toEqual([]);
    expect(await runBackends(s.db.name)).toEqual([]);
    const audit = readAudit(path.join(s.project.dir, 'reports'));
    expect(audit.at(-1)).toMatchObject({ command: 'upgrade', outcome: 'succeeded', exitCode: 0, revisionBefore: '003_add_order_status', revisionAfter: '004_add_nickname' });
    expect(existsSync(path.join(s.project.dir, 'reports', String(audit.at(-1)?.report).replace(/\.json$/, '.md')))).toBe(true);
    for (const file of readdirSync(path.join(s.project.dir, 'backups'))) expect(statSync(path.join(s.project.dir, 'backups', file)).mode & 0o777).toBe(0o600);

    const again = await s.cli('upgrade', '--yes');
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('up to date');
  });
});

describe('upgrade: each failure point leaves production as it was', () => {
  it('backup fails: exit 3, before production', async () => {
    const s = await setUp();
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const before = await databaseState(s.db.url);
    const shim = failingToolDir(s.project, 'pg_dump', '[ "$1" != "--version" ]');
    const result = await scenarioWithConfig(s, { tools: { pgBinDir: shim } }).cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(3);
    expect(result.stdout).toMatch(/backup failed/);
    await expectUnchanged(s.db.url, before);
  });

  it('restore into the scratch database fails: exit 5', async () => {
    const s = await setUp();
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const before = await databaseState(s.db.url);
    const shim = failingToolDir(s.project, 'pg_restore', 'echo "$@" | grep -q -- "--dbname"');
    const result = await scenarioWithConfig(s, { tools: { pgBinDir: shim } }).cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(5);
    await expectUnchanged(s.db.url, before);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });

  it('the rehearsal migration fails: exit 5, production untouched', async () => {
    const s = await setUp();
    addRevision(s.project, '004_broken', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN oops integer NOT NULL DEFAULT 1/0'), 'pass');
    const before = await databaseState(s.db.url);
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(5);
    expect(result.stdout).toMatch(/division by zero/);
    await expectUnchanged(s.db.url, before);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
    expect(latestReport(s.project).steps.find((step) => step.name === 'migrate')?.status).toBe('skipped');
  });

  it('production fails after partial work: exit 6 via the downgrade', async () => {
    const s = await setUp();
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    addRevision(s.project, '005_fails_in_production', '004_add_nickname', sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN RAISE EXCEPTION 'boom in production'; END IF; END $$`), 'pass');
    const before = await databaseState(s.db.url);
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(6);
    expect(result.stdout).toMatch(/boom in production/);
    await expectUnchanged(s.db.url, before);
    expect(latestReport(s.project).details.rollback).toMatchObject({ path: 'downgrade', verified: true });
  });

  it('timeout with pg_sleep: exit 6 and no backend of the run left', async () => {
    const s = await setUp();
    addRevision(s.project, '004_slow', '003_add_order_status', sql(`SELECT pg_sleep(CASE WHEN ${IN_PRODUCTION} THEN 120 ELSE 0 END)`), 'pass');
    const before = await databaseState(s.db.url);
    const started = Date.now();
    const result = await s.cli('upgrade', '--yes', '--timeout', '4');
    expect(result.exitCode, result.stdout + result.stderr).toBe(6);
    expect(result.stdout).toMatch(/timed out after 4 s/);
    expect(Date.now() - started).toBeLessThan(90_000);
    expect(await runBackends(s.db.name)).toEqual([]);
    await expectUnchanged(s.db.url, before);
  });

  it('validation finds an orphan row under a NOT VALID foreign key: exit 6', async () => {
    const s = await setUp({ validation: { allowNotValidConstraints: true } });
    // The app wrote an orphan after the backup: only production has it, so the rehearsal passes.
    addRevision(
      s.project,
      '004_audit_log',
      '003_add_order_status',
      [
        sql('CREATE TABLE audit_log (id serial PRIMARY KEY, user_id integer)'),
        sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN INSERT INTO audit_log (user_id) VALUES (424242); END IF; END $$`),
        sql('ALTER TABLE audit_log ADD CONSTRAINT audit_log_user_fk FOREIGN KEY (user_id) REFERENCES users(id) NOT VALID'),
      ].join('\n    '),
      sql('DROP TABLE audit_log'),
    );
    const before = await databaseState(s.db.url);
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(6);
    expect(result.stdout).toMatch(/audit_log_user_fk/);
    await expectUnchanged(s.db.url, before);
  });

  const failingDowngrade = (s: Scenario) => {
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), 'raise RuntimeError("downgrade is broken")');
    addRevision(s.project, '005_fails_in_production', '004_add_nickname', sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN RAISE EXCEPTION 'boom in production'; END IF; END $$`), 'pass');
  };

  it('the downgrade itself raises: exit 6 via restore with rollback.restore=auto', async () => {
    const s = await setUp({ rollback: { restore: 'auto' } });
    failingDowngrade(s);
    const before = await databaseState(s.db.url);
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(6);
    await expectUnchanged(s.db.url, before);
    const report = latestReport(s.project);
    expect(report.details.rollback).toMatchObject({ path: 'restore', verified: true });
    expect(report.details.dataLossWindow).toBeDefined();
    const kept = (report.details.rollback as { keptFailedDatabase: string }).keptFailedDatabase;
    expect(await databaseExists(kept)).toBe(true);
    await s.db.query(`DROP DATABASE "${kept}" WITH (FORCE)`).catch(() => undefined);
  });

  it('the downgrade itself raises: exit 7 with rollback.restore=never, naming the next command', async () => {
    const s = await setUp({ rollback: { restore: 'never' } });
    failingDowngrade(s);
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(7);
    expect(result.stdout).toMatch(/NEEDS A HUMAN/);
    expect(result.stdout).toMatch(/next: orchestrate restore \S+ --into/);
    expect(readFileSync(latestReportPath(s), 'utf8')).toMatch(/NEEDS A HUMAN/);
    // What was really left: 004 applied (its own transaction), 005 rolled back by its failure, the downgrade raised.
    expect(await alembicRevision(s.db.name)).toBe('004_add_nickname');
    expect(await s.db.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname'`)).toHaveLength(1);
    const report = latestReport(s.project);
    expect(report.revisionAfter).toBe('004_add_nickname');
    expect(readAudit(path.join(s.project.dir, 'reports')).at(-1)).toMatchObject({ exitCode: 7, revisionAfter: '004_add_nickname' });
  });
});

function latestReportPath(s: Scenario): string {
  const dir = path.join(s.project.dir, 'reports');
  const file = readdirSync(dir).filter((name) => name.endsWith('.md')).sort().at(-1);
  return path.join(dir, file ?? '');
}

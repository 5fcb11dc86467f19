import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject, type TestProject } from '../harness/project.js';
import { alembicOutOfBand } from '../harness/tools.js';
import { latestReport } from '../pipeline/helpers.js';

function addRevision(project: TestProject, id: string, down: string, body: readonly string[]): void {
  writeFileSync(
    path.join(project.migrationsDir, 'migrations', 'versions', `${id}.py`),
    [`"""${id}"""`, 'import sqlalchemy as sa', 'from alembic import op', '', `revision = "${id}"`, `down_revision = "${down}"`, 'branch_labels = None', 'depends_on = None', '', '', 'def upgrade():', ...body.map((line) => `    ${line}`), '', '', 'def downgrade():', '    pass', ''].join('\n'),
  );
}

interface LintJson {
  migrations: string[];
  findings: { source: string; rule: string; severity: string; migration?: string; table?: string; message: string }[];
  destructive: { kind: string; table: string; rows: number; migration: string }[];
  cannotPreview: { migration: string; reason: string }[];
}

/**
 * After the merged fixture's head: m06_drop print()s while dropping a table that holds rows (one
 * printed line looks like SQL), m07_bind reads the database while running, so it has no offline SQL.
 */
describe('one revision that cannot be previewed does not blind the analysis of the others', () => {
  let db: TestDatabase;
  let project: TestProject;
  const cli = (...args: string[]) => runCli(args, { cwd: project.dir, env: { DATABASE_URL: db.url } });

  beforeAll(async () => {
    db = await createTestDatabase('preview');
    project = makeProject('alembic-merged');
    await alembicOutOfBand(project.migrationsDir, db.url, ['upgrade', 'head']);
    await db.query(`INSERT INTO audit_log (what) VALUES ('one'), ('two'), ('three')`);
    await db.query(`INSERT INTO users (email) VALUES ('A@example.com')`);
    addRevision(project, 'm06_drop', 'm05_merge', [
      'print("dropping the audit log")',
      'print("DROP TABLE not_a_real_table;")',
      'print("progress: 50% (of nothing")',
      'op.execute("DROP TABLE audit_log")',
      'print("done")',
    ]);
    addRevision(project, 'm07_bind', 'm06_drop', ['count = op.get_bind().execute(sa.text("SELECT count(*) FROM users")).scalar()', 'op.execute("UPDATE users SET email = lower(email)")']);
  });
  afterAll(() => db.drop());

  it('lint --json: the drop with its rows, the unrenderable revision with its reason, nothing printed linted as SQL', async () => {
    const result = await cli('lint', '--json');
    expect(result.exitCode, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as LintJson;
    expect(json.migrations).toEqual(['m06_drop', 'm07_bind']);
    expect(json.destructive).toMatchObject([{ kind: 'drop-table', table: 'audit_log', rows: 3, migration: 'm06_drop' }]);
    expect(json.cannotPreview).toEqual([{ migration: 'm07_bind', reason: expect.stringMatching(/^AttributeError: /) }]);
    expect(json.findings).toContainEqual(expect.objectContaining({ rule: 'cannot-preview', severity: 'warn', migration: 'm07_bind', message: expect.stringContaining('cannot be previewed offline: AttributeError') }));
    expect(json.findings.filter((finding) => finding.rule === 'syntax-error')).toEqual([]);
    expect(JSON.stringify(json)).not.toContain('not_a_real_table');
    // Every finding about the drop names its revision and its table.
    for (const finding of json.findings.filter((candidate) => candidate.migration === 'm06_drop')) expect(finding.table).toBe('audit_log');
  });

  it('lint: the text table names revision and table, and the unrenderable revision', async () => {
    const result = await cli('lint');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^WARN\s+drop-table\s+m06_drop\s+audit_log\s+drops table audit_log holding 3 rows$/m);
    expect(result.stdout).toMatch(/^WARN\s+cannot-preview\s+m07_bind\s+-\s+cannot be previewed offline: AttributeError/m);
  });

  it('upgrade --dry-run names both, shows the SQL of the one and the reason of the other, and a policy judged on the rehearsal', async () => {
    const result = await cli('upgrade', '--dry-run');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('m06_drop: drops table audit_log holding 3 rows');
    expect(result.stdout).toMatch(/WARNING: m07_bind: cannot be previewed offline: AttributeError/);
    expect(result.stdout).toMatch(/-- m06_drop\n[\s\S]*DROP TABLE audit_log;/);
    expect(result.stdout).toMatch(/-- m07_bind: cannot be previewed offline: AttributeError/);
    expect(result.stdout).not.toContain('not_a_real_table');
    expect(result.stdout).toMatch(/\d\. policy: judge what the rehearsal will measure/);
    expect(result.stdout).not.toContain('policy: skipped');

    const unrehearsed = await cli('upgrade', '--dry-run', '--skip-test');
    expect(unrehearsed.exitCode, unrehearsed.stderr).toBe(0);
    expect(unrehearsed.stdout).toMatch(/\d\. policy: skipped: no rehearsal: nothing measured/);
  });

  it('upgrade --yes: the unrenderable revision is a warning in the terminal and the report; the rehearsal still runs', async () => {
    const result = await cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/m07_bind: cannot be previewed offline: AttributeError/);
    const report = latestReport(project) as ReturnType<typeof latestReport> & { warnings: string[]; details: { findings: { rule: string; migration?: string }[] } };
    expect(report.warnings.some((warning) => warning.startsWith('m07_bind: cannot be previewed offline: AttributeError'))).toBe(true);
    expect(report.details.findings).toContainEqual(expect.objectContaining({ rule: 'cannot-preview', migration: 'm07_bind' }));
    expect(report.steps.find((step) => step.name === 'rehearsal')?.status).toBe('succeeded');
    expect(await db.query(`SELECT email FROM users`)).toEqual([{ email: 'a@example.com' }]);
  });
});

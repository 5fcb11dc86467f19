import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI } from '../harness/cli.js';
import { schemaDump, tableContents } from '../harness/oracle.js';
import { addRevision, latestReport, scenario, scratchDatabases, sql, type Scenario } from './helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

/**
 * 004 drops a table with 42 rows. 005 reads the database at run time, so Alembic cannot render it
 * offline (`--sql` fails on it): no SQL analysis sees that it drops users.created_at and narrows
 * orders.status from text to varchar(20). Only the rehearsal can tell.
 */
async function setUp(config: Record<string, unknown> = {}): Promise<Scenario> {
  const s = (current = await scenario({ env: 'production', ...config }));
  await s.db.query(`CREATE TABLE legacy_events (id int PRIMARY KEY, payload text); INSERT INTO legacy_events SELECT g, 'e' || g FROM generate_series(1, 42) g`);
  addRevision(s.project, '004_drop_legacy', '003_add_order_status', sql('DROP TABLE legacy_events'), sql('CREATE TABLE legacy_events (id int PRIMARY KEY, payload text)'));
  writeFileSync(
    path.join(s.project.migrationsDir, 'migrations', 'versions', '005_runtime_cleanup.py'),
    `"""005"""
from alembic import op
import sqlalchemy as sa

revision = "005_runtime_cleanup"
down_revision = "004_drop_legacy"
branch_labels = None
depends_on = None


def upgrade():
    users = op.get_bind().execute(sa.text("select count(*) from users")).scalar()
    if users >= 0:
        op.execute("ALTER TABLE users DROP COLUMN created_at")
        op.execute("ALTER TABLE orders ALTER COLUMN status TYPE varchar(20)")


def downgrade():
    op.execute("ALTER TABLE orders ALTER COLUMN status TYPE text")
    op.execute("ALTER TABLE users ADD COLUMN created_at timestamptz NOT NULL DEFAULT now()")
`,
  );
  return s;
}

async function productionState(s: Scenario) {
  return { schema: await schemaDump(s.db.name), contents: await tableContents(s.db.name) };
}

/** Variables of this shell that would change what the CLI does (as tests/harness/cli.ts scrubs them). */
const SCRUBBED = ['DATABASE_URL', 'POSTGRES_PASSWORD', 'ORCHESTRATE_ENV', 'BACKUP_DIR', 'LOG_DIR', 'REPORT_DIR', 'PGPASSWORD', 'PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE'];

/**
 * The CLI on a pseudo-terminal (util-linux `script`), as a person runs it: each "Type "yes"" prompt
 * gets the next answer. Returns everything the terminal showed.
 */
async function onTerminal(s: Scenario, args: readonly string[], answers: readonly string[]): Promise<{ exitCode: number; output: string }> {
  const env: Record<string, string | undefined> = { ...process.env, DATABASE_URL: s.db.url };
  for (const name of SCRUBBED.slice(1)) delete env[name];
  const command = [process.execPath, CLI, ...args].map((part) => `'${part.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = execa('script', ['-qfec', command, '/dev/null'], { cwd: s.project.dir, env, extendEnv: false, reject: false, timeout: 240_000 });
  let output = '';
  let answered = 0;
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    const asked = output.split('Type "yes" to continue').length - 1;
    while (answered < asked && answered < answers.length) {
      child.stdin?.write(`${answers[answered]}\n`);
      answered += 1;
    }
  });
  const result = await child;
  return { exitCode: result.exitCode ?? -1, output };
}

interface ReportedChange {
  kind: string;
  table: string;
  column?: string;
  rows: number;
  rowsExact: boolean;
  foundBy?: string;
}

describe('what the rehearsal destroys, where the SQL cannot be read', () => {
  it('is asked for in the production confirmation; declined: exit 3 and production untouched', async () => {
    const s = await setUp();
    const before = await productionState(s);
    const run = await onTerminal(s, ['upgrade'], ['yes', 'no']);
    expect(run.exitCode, run.output).toBe(3);
    const confirmation = run.output.slice(run.output.indexOf('The rehearsal found'));
    expect(confirmation).toMatch(/drops column public\.users\.created_at: its values in 300 rows are lost \(found by the rehearsal/);
    expect(confirmation).toMatch(/changes public\.orders\.status from text to character varying\(20\): values in 2000 rows may be truncated/);
    // The dropped table is named with its rows: by the rehearsal, or already by the SQL analysis.
    expect(run.output).toMatch(/drops table (public\.)?legacy_events holding 42 rows/);
    expect(await productionState(s)).toEqual(before);
    expect(await scratchDatabases(s.db.name)).toEqual([]);

    const report = latestReport(s.project);
    expect(report.exitCode).toBe(3);
    const destructive = report.details.destructive as ReportedChange[];
    expect(destructive).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'drop-table', table: expect.stringMatching(/^(public\.)?legacy_events$/), rows: 42, rowsExact: true }),
        expect.objectContaining({ kind: 'drop-column', table: 'public.users', column: 'created_at', rows: 300, rowsExact: true, foundBy: 'rehearsal' }),
        expect.objectContaining({ kind: 'type-change', table: 'public.orders', column: 'status', rows: 2000, foundBy: 'rehearsal' }),
      ]),
    );
  });

  it('with --yes: the run goes on, and the report names each loss with its rows', async () => {
    const s = await setUp();
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const report = latestReport(s.project);
    const findings = report.details.findings as { source: string; rule: string; severity: string; table?: string; message: string }[];
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source: 'destructive', rule: 'drop-table', severity: 'warn', table: 'public.legacy_events', message: expect.stringContaining('drops table public.legacy_events holding 42 rows') }),
        expect.objectContaining({ source: 'destructive', rule: 'drop-column', severity: 'warn', table: 'public.users', message: expect.stringContaining('300 rows') }),
      ]),
    );
    const reports = path.join(s.project.dir, 'reports');
    const markdown = readFileSync(path.join(reports, readdirSync(reports).find((name) => name.endsWith(`${String(report.runId)}.md`)) ?? 'missing.md'), 'utf8');
    expect(markdown).toContain('## Destroys data');
    expect(markdown).toContain('- drops column public.users.created_at: its values in 300 rows are lost (found by the rehearsal, rows counted on the scratch copy)');
    expect((report.details.destructive as ReportedChange[]).map((change) => [change.kind, change.table.replace(/^public\./, ''), change.column ?? null, change.rows])).toEqual(
      expect.arrayContaining([
        ['drop-table', 'legacy_events', null, 42],
        ['drop-column', 'users', 'created_at', 300],
        ['type-change', 'orders', 'status', 2000],
      ]),
    );
  });

  it('the policy blocks on them in production when configured: exit 3, production untouched', async () => {
    const s = await setUp({ policy: { severities: { 'ban-drop-column': 'block' } } });
    const before = await productionState(s);
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(3);
    expect(result.stdout).toMatch(/refused by the safety policy: 1 blocking finding: \[drop-column\] public\.users: the rehearsal found that the migration drops column public\.users\.created_at: its values in 300 rows are lost/);
    expect(await productionState(s)).toEqual(before);
  });
});

import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { schemaDump, tableContents } from '../harness/oracle.js';
import { runCli } from '../harness/cli.js';
import { FIXTURES } from '../harness/project.js';
import { addRevision, IN_PRODUCTION, latestReport, runBackends, scenario, scratchDatabases, sql, type Scenario } from './helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

const ENV_PY = (s: Scenario) => path.join(s.project.migrationsDir, 'migrations', 'env.py');

/** A real-world env.py: the URL comes from the application's own variable, not the one orchestrate sets. */
function readOtherVariable(s: Scenario): void {
  const file = ENV_PY(s);
  writeFileSync(file, readFileSync(file, 'utf8').replace('os.environ["DATABASE_URL"]', 'os.environ["APP_DATABASE_URL"]'));
}

/** Replaces the project's env.py with one of the patterns of the README (tests/fixtures/env-py). */
function useEnvPy(s: Scenario, pattern: 'asyncpg' | 'settings_object'): void {
  copyFileSync(path.join(FIXTURES, 'env-py', `${pattern}.py`), ENV_PY(s));
}

/** Independent of the code under test: pg_dump --schema-only and per-table content checksums. */
async function oracle(database: string) {
  return { schema: await schemaDump(database), contents: await tableContents(database) };
}

async function withNewMigration(): Promise<Scenario> {
  const s = (current = await scenario());
  addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
  return s;
}

describe('wording', () => {
  it('a refusal whose reason ends a sentence gets one full stop before "Production was not touched."', async () => {
    const s = (current = await scenario({ env: 'production' }));
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const result = await s.cli('upgrade');
    expect(result.exitCode, result.stdout + result.stderr).toBe(3);
    expect(result.stdout).toContain('003_add_order_status -> 004_add_nickname. Production was not touched.');
    expect(result.stdout).not.toContain('..');
  });

  it('a failed migration is named by its database, not "production", outside production', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_fails', '003_add_order_status', sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN RAISE EXCEPTION 'boom'; END IF; END $$`), 'pass');
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(6);
    expect(result.stdout).toContain(`the migration failed on ${s.db.name}: `);
    expect(result.stdout).not.toContain('production migration');
  });
});

describe('the tool must connect where orchestrate points it', () => {
  it('upgrade: env.py reading another variable (pointing at production) is refused with exit 3 before anything changed', async () => {
    const s = await withNewMigration();
    readOtherVariable(s);
    const before = await oracle(s.db.name);
    const result = await scenarioCli(s, { APP_DATABASE_URL: s.db.url })('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(3);
    expect(result.stdout).toContain('alembic did not connect to the database orchestrate gave it: env.py ignores DATABASE_URL');
    // Where it went is named when a sampled session shows it (psycopg2 sets PGAPPNAME), else the revision it read there.
    expect(result.stdout).toMatch(/\((it connected to |it read revision )[^)]*\); make env\.py read the URL from DATABASE_URL .*, or set migrator\.urlEnv to the variable it reads\. Production was not touched\./);
    expect(result.stdout).not.toContain('..');
    expect(await oracle(s.db.name)).toEqual(before);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
    expect(await runBackends(s.db.name)).toEqual([]);
    expect(readdirSync(path.join(s.project.dir, 'backups')).filter((file) => file.endsWith('.json'))).toEqual([]);
    const steps = latestReport(s.project).steps.map((step) => [step.name, step.status]);
    expect(steps.slice(0, 4)).toEqual([
      ['preflight', 'succeeded'],
      ['tool target', 'failed'],
      ['lock', 'skipped'],
      ['backup', 'skipped'],
    ]);
  });

  it('upgrade --skip-test: still proven before production is migrated', async () => {
    const s = await withNewMigration();
    readOtherVariable(s);
    const before = await oracle(s.db.name);
    const result = await scenarioCli(s, { APP_DATABASE_URL: s.db.url })('upgrade', '--yes', '--skip-test');
    expect(result.exitCode, result.stdout + result.stderr).toBe(3);
    expect(result.stdout).toContain('env.py ignores DATABASE_URL');
    expect(await oracle(s.db.name)).toEqual(before);
  });

  it('test and lint --rehearse (which run the tool on scratch copies) refuse the same env.py with exit 3', async () => {
    const s = await withNewMigration();
    readOtherVariable(s);
    const before = await oracle(s.db.name);
    const cli = scenarioCli(s, { APP_DATABASE_URL: s.db.url });
    for (const args of [['test'], ['lint', '--rehearse']]) {
      const result = await cli(...args);
      expect(result.exitCode, `${args.join(' ')}: ${result.stdout}${result.stderr}`).toBe(3);
      expect(result.stdout + result.stderr).toContain('env.py ignores DATABASE_URL');
    }
    expect(await oracle(s.db.name)).toEqual(before);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });

  it('an env.py that reads DATABASE_URL passes the proof; the report says what was proven', async () => {
    const s = await withNewMigration();
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const report = latestReport(s.project);
    expect(report.details.toolTarget).toEqual({ detail: expect.stringContaining('alembic connected to the database given in DATABASE_URL'), warnings: [] });
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });

  it('a custom version_table needs migrator.versionTable: refused without it, proven with it', async () => {
    const s = await withNewMigration();
    const file = ENV_PY(s);
    writeFileSync(file, readFileSync(file, 'utf8').replace('transaction_per_migration=True)\n        with', 'transaction_per_migration=True, version_table="schema_history")\n        with'));
    await s.db.query('ALTER TABLE alembic_version RENAME TO schema_history');
    const refused = await s.cli('upgrade', '--yes');
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(3);
    expect(refused.stdout + refused.stderr).toContain('set migrator.versionTable');
    const configured = await scenarioCli(s, {}, { versionTable: 'schema_history' })('upgrade', '--yes');
    expect(configured.exitCode, configured.stdout + configured.stderr).toBe(0);
    expect((await s.db.query<{ version_num: string }>('SELECT version_num FROM schema_history'))[0]?.version_num).toBe('004_add_nickname');
  });
});

describe('env.py patterns of the README', () => {
  it('async (asyncpg, async_engine_from_config + run_sync) with PGAPPNAME and PGOPTIONS handed over: proven, no warning, migrated', async () => {
    const s = await withNewMigration();
    useEnvPy(s, 'asyncpg');
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(latestReport(s.project).details.toolTarget).toEqual({ detail: expect.stringContaining('alembic connected to the database given in DATABASE_URL'), warnings: [] });
    expect((await s.db.query<{ version_num: string }>('SELECT version_num FROM alembic_version'))[0]?.version_num).toBe('004_add_nickname');
  });

  it('a settings object that uses the URL as it is: refused without migrator.urlScheme; with it, proven, and warned that asyncpg dropped application_name and lock_timeout', async () => {
    const s = await withNewMigration();
    useEnvPy(s, 'settings_object');
    const before = await oracle(s.db.name);
    const plain = await s.cli('upgrade', '--yes');
    // postgresql:// makes SQLAlchemy load a sync driver, which the async engine refuses (already in preflight's alembic current).
    expect(plain.exitCode, plain.stdout + plain.stderr).toBe(3);
    expect(await oracle(s.db.name)).toEqual(before);

    const withScheme = await scenarioCli(s, {}, { urlScheme: 'postgresql+asyncpg' })('upgrade', '--yes');
    expect(withScheme.exitCode, withScheme.stdout + withScheme.stderr).toBe(0);
    const { warnings } = latestReport(s.project).details.toolTarget as { warnings: string[] };
    expect(warnings).toEqual([expect.stringContaining("do not carry orchestrate's application_name"), expect.stringContaining('not pipeline.lockTimeoutMs (5000 ms)')]);
    expect(withScheme.stderr + withScheme.stdout).toContain("do not carry orchestrate's application_name");
  });
});

/** The scenario's CLI with extra environment variables, after merging `migrator` settings into its config file. */
function scenarioCli(s: Scenario, env: Record<string, string>, migrator: Record<string, unknown> = {}) {
  const configFile = path.join(s.project.dir, 'orchestrate.config.json');
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as { migrator: Record<string, unknown> };
  writeFileSync(configFile, JSON.stringify({ ...config, migrator: { ...config.migrator, ...migrator } }, null, 2));
  return (...args: string[]) => runCli(args, { cwd: s.project.dir, env: { DATABASE_URL: s.db.url, ...env } });
}

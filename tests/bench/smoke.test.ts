import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/cli.js';
import { adminUrl, withAdmin } from '../harness/db.js';

/**
 * CI's smoke run of `npm run bench` at a few MB against the suite's server: it must finish, print its
 * table and write it as JSON and Markdown. Not a timed test: the numbers are not judged here.
 */
describe('npm run bench (smoke, small size)', () => {
  const outDir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-bench-smoke-'));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('measures every row at 4 MB, prints the table, writes bench.json and bench.md, and leaves no database behind', async () => {
    const run = await execa(process.execPath, [path.join(REPO_ROOT, 'scripts', 'bench.mjs'), '--size-mb', '4', '--revisions', '3', '--out', outDir], {
      cwd: REPO_ROOT,
      env: { BENCH_DATABASE_URL: adminUrl() },
      reject: false,
      timeout: 110_000,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('| measurement | seconds | ratio | target | detail |');
    expect(run.stdout).toContain('`orchestrate upgrade --yes`');
    expect(run.stdout).toContain('rollback by restore');

    const result = JSON.parse(readFileSync(path.join(outDir, 'bench.json'), 'utf8'));
    expect(result.database.bytes).toBeGreaterThan(1_000_000);
    expect(result.seed.seconds).toBeGreaterThan(0);
    expect(result.floors.dumpSeconds).toBeGreaterThan(0);
    expect(result.upgrade.exitCode).toBe(0);
    expect(Object.keys(result.upgrade.steps)).toEqual(expect.arrayContaining(['preflight', 'lock', 'backup', 'rehearsal', 'migrate', 'validate']));
    expect(result.rollback.exitCode).toBe(6);
    expect(result.rollback.rawRestoreSeconds).toBeGreaterThan(0);
    expect(result.dryRun).toMatchObject({ revisions: 3, exitCode: 0 });
    if (process.platform === 'linux') expect(result.upgrade.peakRssMb).toBeGreaterThan(10);
    expect(readFileSync(path.join(outDir, 'bench.md'), 'utf8').trimEnd()).toBe(run.stdout.trimEnd());

    const leftovers = await withAdmin(async (client) => (await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%'")).rows);
    expect(leftovers).toEqual([]);
  }, 120_000);
});

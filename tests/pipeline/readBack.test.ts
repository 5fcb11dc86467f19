import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addRevision, databaseState, expectUnchanged, latestReport, scenario, scratchDatabases, sql, type Scenario } from './helpers.js';

/**
 * Every new backup is read whole before production is touched: by the rehearsal's restore when the
 * run rehearses (no second read), by a separate read-back otherwise. pg_dump and pg_restore run
 * through shims that log their arguments and then run the real program (or fail, as told).
 */
let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

function onPath(program: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, program))) return path.join(dir, program);
  }
  throw new Error(`${program} is not on PATH`);
}

/** pg_dump and pg_restore that append "<name> <args>" to calls.log; pg_restore fails when `failWhen` holds. */
function loggingTools(s: Scenario, failWhen = 'false'): { log: () => string[] } {
  const dir = path.join(s.project.dir, 'logged-tools');
  const logFile = path.join(dir, 'calls.log');
  mkdirSync(dir, { recursive: true });
  for (const name of ['pg_dump', 'pg_restore']) {
    const fail = name === 'pg_restore' ? `if ${failWhen}; then echo "${name}: simulated unreadable archive" >&2; exit 1; fi\n` : '';
    writeFileSync(path.join(dir, name), `#!/bin/sh\necho "${name} $*" >> ${logFile}\n${fail}exec ${onPath(name)} "$@"\n`);
    chmodSync(path.join(dir, name), 0o755);
  }
  const configFile = path.join(s.project.dir, 'orchestrate.config.json');
  writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync(configFile, 'utf8')), tools: { pgBinDir: dir } }, null, 2));
  return { log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n') : []) };
}

async function withPendingRevision(): Promise<Scenario> {
  current = await scenario();
  addRevision(current.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
  return current;
}

describe('the new backup is read whole before production is touched', () => {
  it('a rehearsing run reads it once, by the rehearsal restore, and asks each tool its version once', async () => {
    const s = await withPendingRevision();
    const tools = loggingTools(s);
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(0);
    const calls = tools.log();
    expect(calls.filter((call) => call.startsWith('pg_restore') && call.includes('--file=/dev/null'))).toEqual([]);
    expect(calls.filter((call) => call.startsWith('pg_restore') && call.includes('--dbname'))).toHaveLength(1);
    expect(calls.filter((call) => call === 'pg_restore --version')).toHaveLength(1);
    expect(calls.filter((call) => call === 'pg_dump --version')).toHaveLength(1);
    expect(latestReport(s.project).details.backup).toMatchObject({ verified: true, verifiedBy: expect.stringMatching(/^restored whole into the scratch copy/) });
  });

  it('a run without a rehearsal (--skip-test) reads it back in the backup step', async () => {
    const s = await withPendingRevision();
    const tools = loggingTools(s);
    const result = await s.cli('upgrade', '--yes', '--skip-test');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(tools.log().filter((call) => call.startsWith('pg_restore') && call.includes('--file=/dev/null'))).toHaveLength(1);
    expect(latestReport(s.project).details.backup).toMatchObject({ verified: true, verifiedBy: expect.stringMatching(/^read back whole/) });
  });

  it('an archive that cannot be read stops the run in the rehearsal, says the backup did not verify, production untouched', async () => {
    const s = await withPendingRevision();
    const before = await databaseState(s.db.url);
    const tools = loggingTools(s, `[ "$1" != "--version" ] && [ "$1" != "--list" ]`);
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(5);
    expect(result.stdout).toMatch(/the new backup \S+ did not verify: pg_restore cannot read the whole archive/);
    expect(tools.log().filter((call) => call.startsWith('pg_restore') && call.includes('--file=/dev/null'))).toHaveLength(1);
    const report = latestReport(s.project);
    expect(report.details.backup).toMatchObject({ verified: false });
    expect(report.steps.find((step) => step.name === 'migrate')?.status).toBe('skipped');
    await expectUnchanged(s.db.url, before);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../harness/cli.js';
import { urlFor, withAdmin } from '../harness/db.js';
import { watchCommandLines } from '../harness/procwatch.js';
import { makeProject } from '../harness/project.js';

const CANARY = 'Canary-pw-5f1c9e7d';
const ROLE = 'canary_role';
const DATABASE = 'canary_db';

function canaryUrl(password: string | undefined): string {
  const url = new URL(urlFor(DATABASE));
  url.username = ROLE;
  url.password = password ?? '';
  return url.toString();
}

function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.join(entry.parentPath, entry.name));
  } catch {
    return [];
  }
}

function expectNoCanary(projectDir: string, result: CliResult): void {
  expect(result.stdout).not.toContain(CANARY);
  expect(result.stderr).not.toContain(CANARY);
  for (const dir of ['logs', 'reports', 'backups']) {
    for (const file of filesUnder(path.join(projectDir, dir))) expect(readFileSync(file, 'latin1'), file).not.toContain(CANARY);
  }
}

describe('a password-protected role whose password is a canary', () => {
  beforeAll(async () => {
    await withAdmin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
      await client.query(`DROP ROLE IF EXISTS ${ROLE}`);
      await client.query(`SET password_encryption = 'scram-sha-256'`);
      await client.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${CANARY}'`);
      await client.query(`CREATE DATABASE ${DATABASE} OWNER ${ROLE}`);
    });
  });
  afterAll(async () => {
    await withAdmin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
      await client.query(`DROP ROLE IF EXISTS ${ROLE}`);
    });
  });

  it.each([
    ['alembic-project', 'password in the URL', { DATABASE_URL: canaryUrl(CANARY) }, /alembic/],
    ['alembic-project', 'password in POSTGRES_PASSWORD', { DATABASE_URL: canaryUrl(undefined), POSTGRES_PASSWORD: CANARY }, /alembic/],
    // history/check read node-pg-migrate's table in-process: no child here, the pipeline tests cover its runs.
    ['node-pg-migrate-project', 'password in the URL', { DATABASE_URL: canaryUrl(CANARY) }, undefined],
  ] as const)('%s, %s: never in argv, output or logs', async (fixture, _how, env, childPattern) => {
    const project = makeProject(fixture);
    const watcher = watchCommandLines(CANARY);
    const results = [await runCli(['history'], { cwd: project.dir, env }), await runCli(['check', '--json'], { cwd: project.dir, env })];
    const { leaked, seen } = watcher.stop();
    expect(results[0]?.exitCode, results[0]?.stderr).toBe(0);
    expect(results[1]?.exitCode).toBe(8);
    // The watcher must actually have caught the migration tool running, or the check proves nothing.
    if (childPattern) expect([...seen].some((cmdline) => childPattern.test(cmdline))).toBe(true);
    expect(leaked).toEqual([]);
    for (const result of results) expectNoCanary(project.dir, result);
  });

  it('a wrong password that is a canary is not echoed back', async () => {
    const project = makeProject('alembic-project');
    const result = await runCli(['current'], { cwd: project.dir, env: { DATABASE_URL: canaryUrl(`${CANARY}-wrong`) } });
    expect(result.exitCode).toBe(2);
    expectNoCanary(project.dir, result);
  });
});

describe('connection failures give one clear line', () => {
  it('wrong password: exit 2', async () => {
    const url = new URL(urlFor('postgres'));
    url.password = 'definitely-wrong';
    const result = await runCli(['current'], { cwd: makeProject('alembic-project').dir, env: { DATABASE_URL: url.toString() } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/authentication failed for user "postgres"/);
  });

  it('nonexistent database: exit 2', async () => {
    const result = await runCli(['check'], { cwd: makeProject('alembic-project').dir, env: { DATABASE_URL: urlFor('no_such_db') } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/database "no_such_db" does not exist/);
  });

  it('a migrator.cwd that does not exist: exit 2 naming it', async () => {
    const project = makeProject('alembic-project', { migrator: { cwd: 'no-such-dir' } });
    const result = await runCli(['history'], { cwd: project.dir, env: { DATABASE_URL: urlFor('postgres') } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/working directory .*no-such-dir does not exist/);
  });

  it('unreachable server: exit 3', async () => {
    const result = await runCli(['history'], { cwd: makeProject('alembic-project').dir, env: { DATABASE_URL: 'postgresql://app:pw@127.0.0.1:1/app' } });
    expect(result.exitCode).toBe(3);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/server unreachable/);
    expect(result.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });
});

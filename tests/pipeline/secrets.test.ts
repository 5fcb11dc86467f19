import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { urlFor, withAdmin } from '../harness/db.js';
import { watchCommandLines } from '../harness/procwatch.js';
import { makeProject } from '../harness/project.js';
import { alembicOutOfBand } from '../harness/tools.js';
import { addRevision, IN_PRODUCTION, sql } from './helpers.js';

const CANARY = 'Pipeline-canary-9b2e41';
const ROLE = 'pipeline_canary';
const DATABASE = 'pipeline_canary_db';

function canaryUrl(): string {
  const url = new URL(urlFor(DATABASE));
  url.username = ROLE;
  url.password = CANARY;
  return url.toString();
}

function everyFile(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe('a whole pipeline run with a canary password', () => {
  beforeAll(async () => {
    await withAdmin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
      await client.query(`DROP ROLE IF EXISTS ${ROLE}`);
      await client.query(`CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${CANARY}'`);
      await client.query(`CREATE DATABASE ${DATABASE} OWNER ${ROLE}`);
    });
  });
  afterAll(async () => {
    await withAdmin(async (client) => {
      const leftovers = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, [DATABASE]);
      for (const row of leftovers.rows) await client.query(`DROP DATABASE "${row.datname}" WITH (FORCE)`);
      await client.query(`DROP ROLE IF EXISTS ${ROLE}`);
    });
  });

  it('never puts it in any child argv, output, log, report, journal or manifest: on success and through a rollback by restore', async () => {
    const project = makeProject('alembic-project', { rollback: { restore: 'auto' } });
    await alembicOutOfBand(project.migrationsDir, canaryUrl(), ['upgrade', 'head']);
    addRevision(project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const watcher = watchCommandLines(CANARY);
    const env = { DATABASE_URL: canaryUrl() };
    const success = await runCli(['upgrade', '--yes'], { cwd: project.dir, env });
    addRevision(project, '005_add_score', '004_add_nickname', sql('ALTER TABLE users ADD COLUMN score integer'), 'raise RuntimeError("no way back")');
    addRevision(project, '006_fails', '005_add_score', sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN RAISE EXCEPTION 'boom'; END IF; END $$`), 'pass');
    const restored = await runCli(['upgrade', '--yes'], { cwd: project.dir, env });
    const { leaked, seen } = watcher.stop();

    expect(success.exitCode, success.stdout + success.stderr).toBe(0);
    expect(restored.exitCode, restored.stdout + restored.stderr).toBe(6);
    for (const program of ['alembic', 'pg_dump', 'pg_restore']) expect([...seen].some((cmdline) => cmdline.includes(program)), program).toBe(true);
    expect(leaked).toEqual([]);
    for (const result of [success, restored]) expect(result.stdout + result.stderr).not.toContain(CANARY);
    const files = everyFile(project.dir).filter((file) => !file.includes(`${path.sep}app${path.sep}`));
    expect(files.some((file) => file.includes(`${path.sep}backups${path.sep}`))).toBe(true);
    for (const file of files) expect(readFileSync(file, 'latin1'), file).not.toContain(CANARY);
  });
});

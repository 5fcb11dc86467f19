import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../src/backup/index.js';
import type { CliResult } from '../harness/cli.js';
import { urlFor, withAdmin } from '../harness/db.js';
import { watchCommandLines } from '../harness/procwatch.js';
import { cliIn, filesUnder, json, makeStore, modeOf } from './helpers.js';

const CANARY = 'Canary-bk-9d2e41c7';
const ROLE = 'bk_canary_role';
const DATABASE = 'bk_canary_db';
const COPY = 'bk_canary_copy';

function canaryUrl(database: string, password: string | undefined): string {
  const url = new URL(urlFor(database));
  url.username = ROLE;
  url.password = password ?? '';
  return url.toString();
}

describe('a canary password', () => {
  beforeAll(async () => {
    await withAdmin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${COPY} WITH (FORCE)`);
      await client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
      await client.query(`DROP ROLE IF EXISTS ${ROLE}`);
      await client.query(`SET password_encryption = 'scram-sha-256'`);
      await client.query(`CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${CANARY}'`);
      await client.query(`CREATE DATABASE ${DATABASE} OWNER ${ROLE}`);
    });
    await withAdmin((client) => client.query('CREATE TABLE secrets_t (id int, v text); INSERT INTO secrets_t SELECT i, md5(i::text) FROM generate_series(1, 3000) i'), canaryUrl(DATABASE, CANARY));
  });
  afterAll(async () => {
    await withAdmin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${COPY} WITH (FORCE)`);
      await client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
      await client.query(`DROP ROLE IF EXISTS ${ROLE}`);
    });
  });

  it.each([
    ['in the URL', 'custom', { DATABASE_URL: canaryUrl(DATABASE, CANARY) }],
    ['in POSTGRES_PASSWORD', 'directory', { DATABASE_URL: canaryUrl(DATABASE, undefined), POSTGRES_PASSWORD: CANARY }],
  ] as const)('password %s, %s format: never in argv, manifests, logs, reports or output; every file 0600', async (_how, format, env) => {
    await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${COPY} WITH (FORCE)`));
    const dir = makeStore({ backup: { format } });
    const cli = cliIn(dir, env.DATABASE_URL, env);
    const watcher = watchCommandLines(CANARY);
    const results: CliResult[] = [];
    results.push(await cli('backup', '--json'));
    const { id } = json<{ backup: BackupManifest }>(results[0] as CliResult).backup;
    results.push(await cli('backups', 'list'), await cli('backups', 'show', id), await cli('backups', 'verify', '--all'));
    results.push(await cli('restore', id, '--into', COPY));
    results.push(await cli('restore', id, '--into', COPY, '--yes', '--json'));
    results.push(await cli('backups', 'prune', '--dry-run'));
    const { leaked, seen } = watcher.stop();

    expect(results.map((result) => result.exitCode)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    // The watcher must have seen the pg tools run, or the argv check proves nothing.
    expect([...seen].some((cmdline) => /pg_dump/.test(cmdline))).toBe(true);
    expect([...seen].some((cmdline) => /pg_restore/.test(cmdline))).toBe(true);
    expect(leaked).toEqual([]);
    for (const result of results) {
      expect(result.stdout).not.toContain(CANARY);
      expect(result.stderr).not.toContain(CANARY);
    }
    const files = ['backups', 'logs', 'reports'].flatMap((sub) => filesUnder(path.join(dir, sub)));
    expect(files.filter((file) => file.endsWith('.json') && file.includes(`${path.sep}backups${path.sep}`))).toHaveLength(2);
    for (const file of files) {
      expect(readFileSync(file, 'latin1'), file).not.toContain(CANARY);
      expect(modeOf(file), file).toBe(0o600);
    }
  });
});

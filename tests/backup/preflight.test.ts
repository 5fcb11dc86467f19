import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { preflightBackup } from '../../src/backup/index.js';
import { runLockKey } from '../../src/pipeline/runLock.js';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { RefusedError } from '../../src/errors.js';
import { createTestDatabase, withAdmin, type TestDatabase } from '../harness/db.js';
import { cliIn, contextFor, makeStore, shimDir } from './helpers.js';

describe('backup preflight', () => {
  let source: TestDatabase;
  let serverVersion: string;

  beforeAll(async () => {
    source = await createTestDatabase('bk_pre');
    await source.query('CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100)');
    serverVersion = await withAdmin(async (client) => (await client.query<{ v: string }>(`SELECT split_part(current_setting('server_version'), ' ', 1) AS v`)).rows[0]?.v ?? '');
  });
  afterAll(() => source.drop());

  it('a pg_dump older than the server is refused with exit 3, naming both versions, before anything is written', async () => {
    const shim = shimDir('pg_dump', 'echo "pg_dump (PostgreSQL) 9.6.24"; echo "should never dump" >&2; exit 0');
    const dir = makeStore();
    const result = await cliIn(dir, source.url, { PATH: `${shim}${path.delimiter}${process.env.PATH ?? ''}` })('backup');
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(`pg_dump 9.6 is older than the server (PostgreSQL ${serverVersion})`);
    expect(readdirSync(path.join(dir, 'backups'))).toEqual([]);
  });

  it('an older major version reported by a shim in tools.pgBinDir is refused the same way', async () => {
    const majorBelow = Number(serverVersion.split('.')[0]) - 1;
    const shim = shimDir('pg_dump', `echo "pg_dump (PostgreSQL) ${majorBelow}.3 (Debian ${majorBelow}.3-1)"`);
    const dir = makeStore({ tools: { pgBinDir: shim } });
    const result = await cliIn(dir, source.url)('backup');
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(`pg_dump ${majorBelow}.3 is older than the server (PostgreSQL ${serverVersion})`);
  });

  it('too little free space for the estimate: exit 3, nothing written', async () => {
    const dir = makeStore({ backup: { sizeFactor: 1e12 } });
    const result = await cliIn(dir, source.url)('backup');
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/not enough free space in .*backups: .* free, the backup may need/);
    expect(readdirSync(path.join(dir, 'backups'))).toEqual([]);
  });

  it('a backup directory that cannot be written: exit 3', async () => {
    const dir = makeStore();
    writeFileSync(path.join(dir, 'not-a-dir'), '');
    const result = await cliIn(dir, source.url)('backup', '--backup-dir', 'not-a-dir/backups');
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/backup directory .*not-a-dir\/backups is not writable/);
  });

  it('a migration holding the run lock: exit 4, nothing dumped', async () => {
    const holder = new pg.Client({ connectionString: source.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1::bigint)', [runLockKey(source.name).toString()]);
      const dir = makeStore();
      const result = await cliIn(dir, source.url)('backup');
      expect(result.exitCode).toBe(4);
      expect(result.stderr).toContain('another run holds the migration lock');
      expect(existsSync(path.join(dir, 'backups')) ? readdirSync(path.join(dir, 'backups')) : []).toEqual([]);
    } finally {
      await holder.end();
    }
  });

  it('reports versions, the estimate and the free space to the pipeline', async () => {
    const dir = makeStore({ backup: { sizeFactor: 2 } });
    const target = parseDatabaseUrl(source.url);
    const result = await preflightBackup(contextFor(dir, source.url), target);
    const size = await withAdmin(async (client) => Number((await client.query<{ s: string }>('SELECT pg_database_size($1)::text AS s', [source.name])).rows[0]?.s));
    expect(result).toMatchObject({ serverVersion, estimatedBytes: size * 2 });
    expect(result.pgDumpVersion).toMatch(/^\d+\.\d+$/);
    expect(result.freeBytes).toBeGreaterThan(0);
    await expect(preflightBackup(contextFor(makeStore({ backup: { sizeFactor: 1e12 } }), source.url), target)).rejects.toBeInstanceOf(RefusedError);
    expect(existsSync(path.join(dir, 'backups'))).toBe(true);
  });
});

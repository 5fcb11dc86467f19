import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl, type DbTarget } from '../../src/db/target.js';
import { pgProgram } from '../../src/exec/pgDump.js';
import { createTestDatabase, withAdmin, type TestDatabase } from '../harness/db.js';
import { binDir, check, named } from './helpers.js';

/** The real program on PATH, to link beside a shim. */
function onPath(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name);
    if (dir && existsSync(file)) return file;
  }
  throw new Error(`${name} is not on PATH`);
}

describe('tools and disk', () => {
  let db: TestDatabase;
  let target: DbTarget;
  let serverVersion: string;

  beforeAll(async () => {
    db = await createTestDatabase('pf_tools');
    target = parseDatabaseUrl(db.url);
    serverVersion = await withAdmin(async (client) => (await client.query<{ v: string }>(`SELECT split_part(current_setting('server_version'), ' ', 1) AS v`)).rows[0]?.v ?? '');
  });
  afterAll(() => db.drop());

  it('the installed pg_dump and pg_restore pass, named with their versions and the server\'s', async () => {
    const results = await check(target, { willBackup: true });
    expect(named(results, 'tools:pg_dump')).toMatchObject({ status: 'pass', detail: expect.stringMatching(new RegExp(`^pg_dump \\d+\\.\\d+ \\(pg_dump\\), server PostgreSQL ${serverVersion}$`)) });
    expect(named(results, 'tools:pg_restore').status).toBe('pass');
    expect(named(results, 'disk')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/ free in .*, the backup may need .* \(pg_database_size .* x sizeFactor 1\)$/) });
  });

  it('a pg_dump in tools.pgBinDir reporting major 9 fails tools:pg_dump naming both versions; pg_restore beside it still passes', async () => {
    const bin = binDir({ pg_dump: 'echo "pg_dump (PostgreSQL) 9.6.24"' }, { pg_restore: onPath('pg_restore') });
    const results = await check(target, { willBackup: true }, { tools: { pgBinDir: bin } });
    const dump = named(results, 'tools:pg_dump');
    expect(dump.status).toBe('fail');
    expect(dump.detail).toContain(`pg_dump 9.6 is older than the server (PostgreSQL ${serverVersion}): it cannot dump a newer major version`);
    expect(named(results, 'tools:pg_restore')).toMatchObject({ status: 'pass', detail: expect.stringContaining(`(${pgProgram(bin, 'pg_restore')})`) });
  });

  it('a pg_restore older than pg_dump (same major as the server) is a warning; a missing one fails', async () => {
    const major = Number(serverVersion.split('.')[0]);
    const newer = binDir({ pg_dump: `echo "pg_dump (PostgreSQL) ${major + 1}.0"`, pg_restore: `echo "pg_restore (PostgreSQL) ${major}.2"` });
    const results = await check(target, { willBackup: true }, { tools: { pgBinDir: newer } });
    expect(named(results, 'tools:pg_dump').status).toBe('pass');
    expect(named(results, 'tools:pg_restore')).toMatchObject({ status: 'warn', detail: expect.stringContaining(`is older than pg_dump ${major + 1}.0`) });

    const empty = binDir({});
    const missing = await check(target, { willBackup: true }, { tools: { pgBinDir: empty } });
    expect(named(missing, 'tools:pg_dump')).toMatchObject({ status: 'fail', detail: expect.stringContaining(`${path.join(empty, 'pg_dump')} not found`) });
    expect(named(missing, 'tools:pg_restore').status).toBe('fail');
  });

  it('without a backup the tools and disk checks pass as not needed, even with no tools at all', async () => {
    const results = await check(target, { willBackup: false }, { tools: { pgBinDir: binDir({}) } });
    for (const name of ['tools:pg_dump', 'tools:pg_restore', 'disk'] as const) {
      expect(named(results, name)).toMatchObject({ status: 'pass', detail: 'not needed: this run takes no backup' });
    }
  });

  it('disk fails when the estimate exceeds the free space, and never creates the backup directory', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-pfdisk-'));
    const backupDir = path.join(parent, 'not', 'yet', 'backups');
    const short = named(await check(target, { willBackup: true }, { backupDir, backup: { sizeFactor: 1e12 } }), 'disk');
    expect(short.status).toBe('fail');
    expect(short.detail).toMatch(new RegExp(`^not enough free space in ${backupDir}: .* free, the backup may need .* \\(pg_database_size .* x sizeFactor 1000000000000\\)`));

    const directory = named(await check(target, { willBackup: true }, { backupDir, backup: { format: 'directory' } }), 'disk');
    expect(directory).toMatchObject({ status: 'pass', detail: expect.stringContaining('x 2 for the tar bundle') });
    expect(existsSync(path.join(parent, 'not'))).toBe(false);
  });
});

import { copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBackup, type BackupManifest } from '../../src/backup/index.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { cliIn, contextFor, databaseNames, editManifest, json, makeStore, readManifestFile } from './helpers.js';

type Damage = 'truncated' | 'flipped byte';

function damage(file: string, how: Damage): void {
  const bytes = readFileSync(file);
  if (how === 'truncated') truncateSync(file, Math.floor(bytes.length * 0.6));
  else {
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    writeFileSync(file, bytes);
  }
}

describe.each(['custom', 'directory'] as const)('a damaged %s archive', (format) => {
  let source: TestDatabase;
  let dir: string;
  let cli: ReturnType<typeof cliIn>;
  let manifest: BackupManifest;
  let pristine: string;

  beforeAll(async () => {
    source = await createTestDatabase('bk_bad');
    await source.query(`CREATE TABLE t (id int PRIMARY KEY, body text); INSERT INTO t SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 4000) i;`);
    dir = makeStore({ backup: { format } });
    cli = cliIn(dir, source.url);
    const result = await cli('backup', '--no-verify', '--json');
    expect(result.exitCode, result.stderr).toBe(0);
    manifest = json<{ backup: BackupManifest }>(result).backup;
    pristine = path.join(dir, `${manifest.archive}.pristine`);
    copyFileSync(path.join(dir, 'backups', manifest.archive), pristine);
  });
  afterAll(() => source.drop());

  it.each(['truncated', 'flipped byte'] as const)('%s: verify exits 3 naming it, restore refuses before creating any database', async (how) => {
    const archive = path.join(dir, 'backups', manifest.archive);
    copyFileSync(pristine, archive);
    expect((await cli('backups', 'verify', manifest.id)).exitCode).toBe(0);
    damage(archive, how);

    const verify = await cli('backups', 'verify', manifest.id);
    expect(verify.exitCode).toBe(3);
    expect(verify.stdout).toContain(`FAILED  ${manifest.id}`);
    expect(verify.stdout).toMatch(/SHA-256/);
    const all = await cli('backups', 'verify', '--all', '--json');
    expect(all.exitCode).toBe(3);
    expect(json<{ results: { id: string; ok: boolean }[] }>(all).results).toEqual([expect.objectContaining({ id: manifest.id, ok: false })]);
    expect(readManifestFile(dir, manifest.id).verification).toMatchObject({ ok: false, method: 'verify' });

    // Other test files share the server: look only at names this restore could have created.
    const ours = async () => (await databaseNames()).filter((name) => name.startsWith(source.name));
    const before = await ours();
    expect(before).toEqual([source.name]);
    const into = `${source.name}_r`;
    const restore = await cli('restore', manifest.id, '--into', into, '--yes');
    expect(restore.exitCode).toBe(3);
    expect(restore.stderr).toContain(`backup ${manifest.id} is damaged, nothing was restored`);
    expect(await ours()).toEqual(before);

    // Over an existing database too: refused before the pre-restore backup or any change.
    const over = await cli('restore', manifest.id, '--into', source.name, '--allow-source', '--yes');
    expect(over.exitCode).toBe(3);
    expect(await ours()).toEqual(before);
    expect(await source.query('SELECT count(*)::int AS n FROM t')).toEqual([{ n: 4000 }]);
  });

  it('a truncated archive whose manifest was rewritten to match is still caught: the whole archive is read', async () => {
    const archive = path.join(dir, 'backups', manifest.archive);
    copyFileSync(pristine, archive);
    damage(archive, 'truncated');
    const { createHash } = await import('node:crypto');
    const truncated = readFileSync(archive);
    editManifest(dir, manifest.id, (m) => {
      m.bytes = truncated.length;
      m.sha256 = createHash('sha256').update(truncated).digest('hex');
    });
    const result = await verifyBackup(contextFor(dir, source.url), manifest.id);
    expect(result.ok).toBe(false);
    expect(result.problems.join(' ')).toMatch(/cannot (read the whole archive|be unpacked)/);
  });
});

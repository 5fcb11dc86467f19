import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../src/backup/index.js';
import { createTestDatabase, withAdmin, type TestDatabase } from '../harness/db.js';
import { makeProject, type TestProject } from '../harness/project.js';
import { alembicOutOfBand } from '../harness/tools.js';
import { cliIn, json, modeOf, schemaDump, tableContents } from './helpers.js';
import { SEED_SQL } from './seed.js';

describe.each(['custom', 'directory'] as const)('round trip in the %s format', (format) => {
  let source: TestDatabase;
  let project: TestProject;
  const copies: string[] = [];

  beforeAll(async () => {
    source = await createTestDatabase('bk_src');
    project = makeProject('alembic-project', { backup: { format, jobs: 2 } });
    await alembicOutOfBand(project.migrationsDir, source.url, ['upgrade', 'head']);
    await source.query(SEED_SQL);
  });
  afterAll(async () => {
    await withAdmin(async (client) => {
      for (const copy of copies) await client.query(`DROP DATABASE IF EXISTS "${copy}" WITH (FORCE)`);
    });
    await source.drop();
  });

  it('backup, then restore into a new database: identical schema, row counts and content', async () => {
    const cli = cliIn(project.dir, source.url);
    const backup = await cli('backup', '--name', `nightly-${format}`, '--json');
    expect(backup.exitCode, backup.stderr).toBe(0);
    const { backup: manifest, verification } = json<{ backup: BackupManifest; verification: { ok: boolean } }>(backup);
    expect(verification.ok).toBe(true);
    expect(manifest).toMatchObject({ format, reason: 'manual', revision: '003_add_order_status', name: `nightly-${format}` });
    expect(manifest.archive).toBe(`${manifest.id}.${format === 'custom' ? 'dump' : 'tar'}`);
    expect(manifest.tables).toEqual(
      expect.arrayContaining([
        { schema: 'public', name: 'users', estimatedRows: 3000 },
        { schema: 'public', name: 'orders', estimatedRows: 5000 },
        { schema: 'audit', name: 'events', estimatedRows: 2000 },
      ]),
    );

    // One archive and one manifest, private; no work files left behind.
    const backupDir = path.join(project.dir, 'backups');
    expect(readdirSync(backupDir).sort()).toEqual([manifest.archive, `${manifest.id}.json`].sort());
    expect(modeOf(path.join(backupDir, manifest.archive))).toBe(0o600);
    expect(modeOf(path.join(backupDir, `${manifest.id}.json`))).toBe(0o600);
    expect(statSync(backupDir).mode & 0o077).toBe(0);
    expect(statSync(path.join(backupDir, manifest.archive)).size).toBe(manifest.bytes);

    const copy = `${source.name}_copy`;
    copies.push(copy);
    // By name: a backup can be addressed by its label as well as its id.
    const restore = await cli('restore', `nightly-${format}`, '--into', copy, '--json');
    expect(restore.exitCode, restore.stderr).toBe(0);
    expect(json(restore)).toMatchObject({ ok: true, backup: manifest.id, replaced: false, preRestoreBackup: null });

    expect(await schemaDump(copy)).toBe(await schemaDump(source.name));
    const [original, restored] = await Promise.all([tableContents(source.name), tableContents(copy)]);
    expect(Object.keys(original).sort()).toEqual(['audit.events', 'public.alembic_version', 'public.orders', 'public.users']);
    expect(restored).toEqual(original);
    expect(original['public.orders']?.rows).toBe(5000);

    // The restore proved the archive readable: it counts as a verification for prune.
    const shown = json<BackupManifest>(await cli('backups', 'show', manifest.id, '--json'));
    expect(shown.verification).toMatchObject({ ok: true, method: 'restore' });
  });
});

import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup, pruneBackups, verifyBackup, type BackupManifest } from '../../src/backup/index.js';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { writeJournal } from '../../src/pipeline/journal.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { cliIn, contextFor, editManifest, json, makeStore, readManifestFile } from './helpers.js';

const DAY = 86_400_000;

describe('backups prune', () => {
  let source: TestDatabase;
  let dir: string;
  const ids: Record<string, string> = {};

  /**
   * Seven real backups, back-dated by rewriting their manifests' createdAt. With retentionDays 30 and
   * keepLast 2, only `expired` and `old-verified` may go; every other one has a reason to stay.
   */
  beforeAll(async () => {
    source = await createTestDatabase('bk_prune');
    await source.query('CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 500)');
    dir = makeStore({ backup: { retentionDays: 30, keepLast: 2 } });
    const context = contextFor(dir, source.url);
    const target = parseDatabaseUrl(source.url);
    const ages: [string, number][] = [
      ['expired', 120],
      ['old-verified', 100],
      ['newest-verified', 90],
      ['held-by-failed-run', 80],
      ['released-by-success', 70],
      ['recent', 10],
      ['newest', 1],
    ];
    for (const [name] of ages) ids[name] = (await createBackup(context, target, { reason: 'scheduled', revision: null, name })).id;
    for (const name of ['old-verified', 'newest-verified']) expect((await verifyBackup(context, ids[name] ?? '')).ok).toBe(true);
    const now = Date.now();
    for (const [name, days] of ages) editManifest(dir, ids[name] ?? '', (m) => void (m.createdAt = new Date(now - days * DAY).toISOString()));

    const journal = (runId: string, status: 'failed' | 'succeeded', backupId: string) =>
      writeJournal(context.settings.reportDir, { runId, command: 'upgrade', status, startedAt: new Date(now - 80 * DAY).toISOString(), backupId, applicationName: `orchestrate/${runId}`, steps: [], details: {} });
    journal('failedrun', 'failed', ids['held-by-failed-run'] ?? '');
    journal('goodrun', 'succeeded', ids['released-by-success'] ?? '');

    // Strays: an archive without a manifest, a manifest without its archive, a manifest that is not JSON.
    writeFileSync(path.join(dir, 'backups', '20200101T000000Z-aaaaaa.dump'), 'stray');
    const orphan = { ...readManifestFile(dir, ids.expired ?? ''), id: '20200101T000000Z-bbbbbb', archive: '20200101T000000Z-bbbbbb.dump' };
    writeFileSync(path.join(dir, 'backups', '20200101T000000Z-bbbbbb.json'), JSON.stringify(orphan));
    writeFileSync(path.join(dir, 'backups', '20200101T000000Z-cccccc.json'), '{ torn');
  });
  afterAll(() => source.drop());

  const expectedDeleted = () => [ids.expired, ids['old-verified'], ids['released-by-success']].sort();

  it('--dry-run lists exactly the expired, unprotected backups and deletes nothing', async () => {
    const before = readdirSync(path.join(dir, 'backups')).sort();
    const result = await cliIn(dir, source.url)('backups', 'prune', '--dry-run', '--json');
    expect(result.exitCode, result.stderr).toBe(0);
    const report = json<{ dryRun: boolean; deleted: string[]; kept: { id: string; reason: string }[]; problems: string[] }>(result);
    expect(report.dryRun).toBe(true);
    expect(report.deleted.sort()).toEqual(expectedDeleted());
    const reasons = Object.fromEntries(report.kept.map(({ id, reason }) => [id, reason]));
    expect(reasons[ids['newest-verified'] ?? '']).toContain('the newest backup that verified');
    expect(reasons[ids['held-by-failed-run'] ?? '']).toContain('held by run failedrun (failed)');
    expect(reasons[ids.newest ?? '']).toContain('one of the newest 2');
    expect(reasons[ids.recent ?? '']).toContain('one of the newest 2');
    expect(report.problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('orphan archive 20200101T000000Z-aaaaaa.dump'),
        expect.stringContaining('orphan manifest 20200101T000000Z-bbbbbb.json'),
        expect.stringContaining('unreadable manifest 20200101T000000Z-cccccc.json'),
      ]),
    );
    expect(readdirSync(path.join(dir, 'backups')).sort()).toEqual(before);
  });

  it('a recent backup is kept by retention alone when keepLast does not cover it', async () => {
    const context = contextFor(dir, source.url);
    // Seen from 25 days later, `recent` (10 days old) is 35 days old, and only keepLast keeps it.
    const later = await pruneBackups(context, { dryRun: true, now: new Date(Date.now() + 25 * DAY) });
    expect(later.kept.find((k) => k.manifest.id === ids.recent)?.reason).toBe('one of the newest 2');
    const earlier = await pruneBackups({ ...context, settings: { ...context.settings, backup: { ...context.settings.backup, keepLast: 1 } } }, { dryRun: true });
    expect(earlier.kept.find((k) => k.manifest.id === ids.recent)?.reason).toBe('younger than 30 days');
  });

  it('deletes archive and manifest together, exactly the expected set; strays stay', async () => {
    const result = await cliIn(dir, source.url)('backups', 'prune', '--json');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(json<{ deleted: string[] }>(result).deleted.sort()).toEqual(expectedDeleted());
    const left = readdirSync(path.join(dir, 'backups'));
    for (const id of expectedDeleted()) expect(left.filter((file) => file.startsWith(id ?? ''))).toEqual([]);
    for (const name of ['newest-verified', 'held-by-failed-run', 'recent', 'newest']) {
      expect(left).toContain(`${ids[name]}.dump`);
      expect(left).toContain(`${ids[name]}.json`);
    }
    expect(existsSync(path.join(dir, 'backups', '20200101T000000Z-aaaaaa.dump'))).toBe(true);
    expect(existsSync(path.join(dir, 'backups', '20200101T000000Z-bbbbbb.json'))).toBe(true);
    expect(existsSync(path.join(dir, 'backups', '20200101T000000Z-cccccc.json'))).toBe(true);

    const list = json<{ backups: BackupManifest[] }>(await cliIn(dir, source.url)('backups', 'list', '--json'));
    expect(list.backups.map((m) => m.name)).toEqual(['newest', 'recent', 'held-by-failed-run', 'newest-verified']);
  });
});

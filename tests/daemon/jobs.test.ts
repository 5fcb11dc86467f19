import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBackup, verifyBackup, type BackupManifest } from '../../src/backup/index.js';
import { describeTarget, parseDatabaseUrl } from '../../src/db/target.js';
import { silentLogger } from '../../src/log/logger.js';
import { writeJournal, type RunJournal } from '../../src/pipeline/journal.js';
import { acquireRunLock } from '../../src/pipeline/runLock.js';
import { createTestDatabase, urlFor, withAdmin, type TestDatabase } from '../harness/db.js';
import { makeProject } from '../harness/project.js';
import { inProcessDaemon, parsePrometheus, webhookReceiver, type InProcessDaemon } from './support.js';

const DAY = 86_400_000;
const only = (job: string) => ({
  jobs: Object.fromEntries(['retention', 'backup', 'pendingCheck', 'housekeeping'].map((name) => [name, { enabled: name === job }])),
});

function workDir(config: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-daemon-'));
  writeFileSync(path.join(dir, 'orchestrate.config.json'), JSON.stringify({ env: 'development', ...config }, null, 2));
  return dir;
}

function journal(runId: string, status: RunJournal['status'], backupId?: string): RunJournal {
  return {
    runId,
    command: 'upgrade',
    status,
    startedAt: new Date(Date.now() - DAY).toISOString(),
    ...(status === 'running' ? {} : { finishedAt: new Date().toISOString(), exitCode: status === 'succeeded' ? 0 : 6 }),
    ...(backupId ? { backupId } : {}),
    applicationName: `orchestrate/${runId}`,
    steps: [],
    details: {},
  };
}

let running: InProcessDaemon | undefined;
afterEach(async () => {
  await running?.daemon.stop();
  running = undefined;
});

describe('retention job driven by an injected clock', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('dret');
    await db.query('CREATE TABLE items AS SELECT g AS id, md5(g::text) AS label FROM generate_series(1, 2000) g');
  });
  afterAll(() => db.drop());

  it('deletes only backups past retention that nothing protects', async () => {
    const dir = workDir({ backup: { keepLast: 1, retentionDays: 30 }, daemon: { port: 0, ...only('retention') } });
    running = await inProcessDaemon(dir, db.url);
    const { settings } = running;
    const ctx = { settings, logger: silentLogger(), runId: 'seedrun1', applicationName: 'orchestrate/seedrun1' };
    const backups: BackupManifest[] = [];
    for (let i = 0; i < 5; i += 1) backups.push(await createBackup(ctx, parseDatabaseUrl(db.url), { reason: 'manual', revision: null }));
    const [held, verified, old1, old2, newest] = backups as [BackupManifest, BackupManifest, BackupManifest, BackupManifest, BackupManifest];
    // A run that was rolled back still depends on its backup; another backup is the newest that verified.
    writeJournal(settings.reportDir, journal('heldrun1', 'rolled-back', held.id));
    expect((await verifyBackup(ctx, verified.id)).ok).toBe(true);

    running.clock.set(new Date());
    await running.tick('retention');
    expect(readdirSync(settings.backupDir).filter((name) => name.endsWith('.json'))).toHaveLength(5);

    running.clock.set(new Date(Date.now() + 40 * DAY));
    await running.tick('retention');
    const left = readdirSync(settings.backupDir);
    for (const kept of [held, verified, newest]) expect(left).toContain(kept.archive);
    for (const gone of [old1, old2]) {
      expect(left).not.toContain(gone.archive);
      expect(left).not.toContain(`${gone.id}.json`);
    }

    const metrics = parsePrometheus((await running.get('/metrics')).body);
    expect(metrics.get('orchestrate_backups_pruned_total')).toBe(2);
    expect(metrics.get('orchestrate_backups')).toBe(3);
    expect(metrics.get('orchestrate_job_runs_total{daemon_job="retention",outcome="succeeded"}')).toBe(2);
    expect(metrics.get('orchestrate_job_last_success_timestamp_seconds{daemon_job="retention"}')).toBeCloseTo((Date.now() + 40 * DAY) / 1000, -2);
    // The newest verified backup is `verified`; its age is measured on the injected clock (40 days on).
    expect(metrics.get('orchestrate_backup_newest_verified_age_seconds')).toBeGreaterThan(39 * 86_400);
    expect(running.scheduler.expression('retention')).toBe('0 3 * * *');
  });
});

describe('scheduled backup job', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('dbak');
    await db.query('CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 1000) g');
  });
  afterAll(() => db.drop());

  it('skips its tick while a migration holds the run lock, and takes a verified backup otherwise', async () => {
    const project = makeProject('alembic-project', { daemon: { port: 0, ...only('backup') } });
    running = await inProcessDaemon(project.dir, db.url);
    const backupDir = running.settings.backupDir;
    const lock = await acquireRunLock(parseDatabaseUrl(db.url), 'orchestrate/migrating', 0);
    try {
      await running.tick('backup');
      expect(running.daemon.runners.get('backup')?.state()).toMatchObject({ lastOutcome: 'succeeded', lastSummary: 'skipped: a migration run holds the lock' });
      expect(existsSync(backupDir) ? readdirSync(backupDir) : []).toEqual([]);
    } finally {
      await lock.release();
    }
    await running.tick('backup');
    const manifests = readdirSync(backupDir).filter((name) => name.endsWith('.json'));
    expect(manifests).toHaveLength(1);
    const manifest = JSON.parse(readFileSync(path.join(backupDir, manifests[0] ?? ''), 'utf8')) as BackupManifest;
    expect(manifest).toMatchObject({ reason: 'scheduled', revision: null, verification: { ok: true } });
    expect(manifest.runId).toBe(running.daemon.runners.get('backup')?.state().lastRunId);
  });
});

describe('a failing job', () => {
  it('is logged, counted, reported, and the next tick still runs', async () => {
    const name = `dfail_${Date.now().toString(36)}`;
    const receiver = await webhookReceiver();
    const project = makeProject('alembic-project', { daemon: { port: 0, ...only('pendingCheck') }, notifications: { webhooks: [receiver.url], backoffMs: 50 } });
    try {
      running = await inProcessDaemon(project.dir, urlFor(name));

      await running.tick('pendingCheck');
      const state = running.daemon.runners.get('pendingCheck')?.state();
      expect(state).toMatchObject({ lastOutcome: 'failed', failures: 1 });
      expect(state?.lastError).toMatch(/does not exist/);
      const failedLine = running.lines().find((line) => line.level === 50 && String(line.msg).startsWith('job failed'));
      expect(failedLine).toMatchObject({ job: 'pendingCheck' });

      const unhealthy = await running.get('/healthz');
      expect(unhealthy.status).toBe(503);
      const report = JSON.parse(unhealthy.body) as { ok: boolean; reasons: string[] };
      expect(report.ok).toBe(false);
      expect(report.reasons.some((reason) => reason.startsWith('job pendingCheck failed'))).toBe(true);
      expect(parsePrometheus((await running.get('/metrics')).body).get('orchestrate_job_failures_total{daemon_job="pendingCheck"}')).toBe(1);

      // The webhook hears about it once, without a password.
      await expect.poll(() => receiver.requests.length).toBe(1);
      const body = JSON.parse(receiver.requests[0]?.body ?? '{}') as Record<string, unknown>;
      expect(body).toMatchObject({ command: 'daemon pendingCheck', outcome: 'failed', event: 'run.failed' });
      const password = decodeURIComponent(new URL(urlFor(name)).password);
      expect(receiver.requests[0]?.body).not.toContain(password);

      await withAdmin((client) => client.query(`CREATE DATABASE "${name}"`));
      await running.tick('pendingCheck');
      expect(running.daemon.runners.get('pendingCheck')?.state()).toMatchObject({ lastOutcome: 'succeeded', runs: 2, failures: 1 });
      const healthy = await running.get('/healthz');
      expect(healthy.status).toBe(200);
      expect(JSON.parse(healthy.body)).toMatchObject({ ok: true, migrations: { current: null, head: '003_add_order_status' } });
      const metrics = parsePrometheus((await running.get('/metrics')).body);
      expect(metrics.get(`orchestrate_migrations_pending{database="${describeTarget(parseDatabaseUrl(urlFor(name)))}"}`)).toBe(3);
      expect(metrics.get('orchestrate_job_runs_total{daemon_job="pendingCheck",outcome="failed"}')).toBe(1);
      expect(metrics.get('orchestrate_job_runs_total{daemon_job="pendingCheck",outcome="succeeded"}')).toBe(1);
      expect(receiver.requests).toHaveLength(1);
    } finally {
      await running?.daemon.stop();
      running = undefined;
      await receiver.close();
      await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    }
  });
});

describe('overlap and shutdown', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('dovl');
  });
  afterAll(() => db.drop());

  it('skips a tick that comes while the previous execution is still running', async () => {
    const project = makeProject('alembic-project', { daemon: { port: 0, ...only('pendingCheck') } });
    running = await inProcessDaemon(project.dir, db.url);
    running.scheduler.fire('pendingCheck');
    running.scheduler.fire('pendingCheck');
    const runner = running.daemon.runners.get('pendingCheck');
    await expect.poll(() => runner?.state().running, { timeout: 30_000 }).toBe(false);
    expect(runner?.state()).toMatchObject({ runs: 1, skipped: 1, lastOutcome: 'succeeded' });
    expect(parsePrometheus((await running.get('/metrics')).body).get('orchestrate_job_runs_total{daemon_job="pendingCheck",outcome="skipped"}')).toBe(1);
  });

  it('lets a running job finish within the grace period', async () => {
    const project = makeProject('alembic-project', { daemon: { port: 0, graceSeconds: 60, ...only('pendingCheck') } });
    const daemon = await inProcessDaemon(project.dir, db.url);
    daemon.scheduler.fire('pendingCheck');
    const result = await daemon.daemon.stop();
    expect(result).toEqual({ cancelled: [], abandoned: [] });
    expect(daemon.daemon.runners.get('pendingCheck')?.state()).toMatchObject({ runs: 1, lastOutcome: 'succeeded' });
    // Stopped: no more ticks are scheduled and the endpoint is closed.
    expect(() => daemon.scheduler.fire('pendingCheck')).toThrow(/no job/);
    await expect(fetch(`${daemon.daemon.url}/healthz`)).rejects.toThrow();
  });

  it('cancels a job still running when the grace period is over', async () => {
    const project = makeProject('alembic-project', { daemon: { port: 0, graceSeconds: 0, ...only('pendingCheck') } });
    const daemon = await inProcessDaemon(project.dir, db.url);
    daemon.scheduler.fire('pendingCheck');
    const started = Date.now();
    const result = await daemon.daemon.stop();
    expect(Date.now() - started).toBeLessThan(8000);
    expect(result).toEqual({ cancelled: ['pendingCheck'], abandoned: [] });
    expect(daemon.daemon.runners.get('pendingCheck')?.state()).toMatchObject({ lastOutcome: 'cancelled', failures: 0, cancellations: 1 });
  });
});

describe('housekeeping job', () => {
  it('bundles old logs and reports into .tar.gz archives and removes them, keeping what must stay', async () => {
    const dir = workDir({ daemon: { port: 0, ...only('housekeeping') } });
    const logs = path.join(dir, 'logs');
    const reports = path.join(dir, 'reports');
    const runs = path.join(reports, 'runs');
    mkdirSync(logs, { recursive: true });
    mkdirSync(runs, { recursive: true });
    const old = new Date(Date.now() - 45 * DAY);
    const write = (file: string, content: string, mtime = old) => {
      writeFileSync(file, content);
      utimesSync(file, mtime, mtime);
    };
    write(path.join(logs, '2026-01-01T00-00-00Z-aaaa0001.jsonl'), '{"msg":"old run"}\n');
    write(path.join(logs, '2026-01-02T00-00-00Z-aaaa0002.jsonl'), '{"msg":"another old run"}\n'.repeat(500));
    write(path.join(logs, '2026-01-03T00-00-00Z-bbbb0001.jsonl'), '{"msg":"run still going"}\n');
    write(path.join(logs, 'recent-cccc0001.jsonl'), '{"msg":"new"}\n', new Date());
    write(path.join(logs, '.gitignore'), '*\n');
    write(path.join(reports, 'audit.jsonl'), '{"runId":"aaaa0001"}\n');
    write(path.join(reports, 'aaaa0001.json'), '{}');
    write(path.join(reports, 'aaaa0001.md'), '# report');
    write(path.join(reports, 'dddd0001.md'), '# rolled back, backup held');
    for (const [runId, status, backupId] of [['aaaa0001', 'succeeded'], ['bbbb0001', 'running'], ['dddd0001', 'rolled-back', '20260101T000000Z-abcdef']] as const) {
      writeJournal(reports, journal(runId, status, backupId));
      utimesSync(path.join(runs, `${runId}.json`), old, old);
    }

    running = await inProcessDaemon(dir, 'postgresql://nobody@127.0.0.1:1/none');
    await running.tick('housekeeping');
    expect(running.daemon.runners.get('housekeeping')?.state().lastOutcome).toBe('succeeded');

    expect(readdirSync(logs).sort()).toEqual(['.gitignore', '2026-01-03T00-00-00Z-bbbb0001.jsonl', 'archive', 'recent-cccc0001.jsonl']);
    expect(readdirSync(reports).sort()).toEqual(['archive', 'audit.jsonl', 'dddd0001.md', 'runs']);
    expect(readdirSync(runs).sort()).toEqual(['bbbb0001.json', 'dddd0001.json']);

    const entries = async (archiveDir: string) => {
      const [archive, ...others] = readdirSync(archiveDir);
      expect(others).toEqual([]);
      expect(archive).toMatch(/\.tar\.gz$/);
      const names: string[] = [];
      const contents = new Map<string, string>();
      await tar.list({
        file: path.join(archiveDir, archive ?? ''),
        onReadEntry: (entry) => {
          names.push(entry.path);
          let text = '';
          entry.on('data', (chunk: Buffer) => (text += chunk.toString()));
          entry.on('end', () => contents.set(entry.path, text));
        },
      });
      return { names: names.sort(), contents };
    };
    const logArchive = await entries(path.join(logs, 'archive'));
    expect(logArchive.names).toEqual(['2026-01-01T00-00-00Z-aaaa0001.jsonl', '2026-01-02T00-00-00Z-aaaa0002.jsonl']);
    expect(logArchive.contents.get('2026-01-02T00-00-00Z-aaaa0002.jsonl')).toBe('{"msg":"another old run"}\n'.repeat(500));
    expect((await entries(path.join(reports, 'archive'))).names).toEqual(['aaaa0001.json', 'aaaa0001.md', 'runs/aaaa0001.json']);
    expect(readFileSync(path.join(reports, 'audit.jsonl'), 'utf8')).toBe('{"runId":"aaaa0001"}\n');

    // A second sweep finds nothing new and leaves the archives alone.
    await running.tick('housekeeping');
    expect(readdirSync(path.join(logs, 'archive'))).toHaveLength(1);
    expect(existsSync(path.join(logs, '2026-01-03T00-00-00Z-bbbb0001.jsonl'))).toBe(true);
  });
});

import { existsSync, mkdirSync, readdirSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject } from '../harness/project.js';
import { sigterm } from './support.js';

const DAY = 86_400_000;

/** Resolves when the daemon's stderr has shown `pattern`. */
function waitForLine(daemon: ReturnType<typeof startCli>, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        daemon.stderr?.off('data', onData);
        resolve();
      }
    };
    daemon.stderr?.on('data', onData);
    void daemon.then((result) => reject(new Error(`daemon exited ${result.exitCode} before ${pattern}: ${String(result.all)}`)));
  });
}

const jobs = (enabled: string, extra: Record<string, unknown> = {}) =>
  Object.fromEntries(['retention', 'backup', 'pendingCheck', 'housekeeping'].map((name) => [name, name === enabled ? { runOnStart: true, enabled: true, ...extra } : { enabled: false }]));

describe('SIGTERM during a job', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('dsig');
    await db.query('CREATE TABLE accounts AS SELECT g AS id, md5(g::text) AS name FROM generate_series(1, 3000) g');
  });
  afterAll(() => db.drop());

  it('lets the job finish within the grace period, then exits 0', async () => {
    const project = makeProject('alembic-project', { daemon: { port: 0, graceSeconds: 60, jobs: jobs('backup') } });
    const daemon = startCli(['daemon'], { cwd: project.dir, env: { DATABASE_URL: db.url } });
    await waitForLine(daemon, /job started\s+job=backup/);
    sigterm(daemon);
    const result = await daemon;
    expect(result.exitCode).toBe(0);
    expect(String(result.all)).toMatch(/job succeeded: backup \S+ taken .*verified/);
    const files = readdirSync(path.join(project.dir, 'backups'));
    expect(files.filter((name) => name.endsWith('.dump'))).toHaveLength(1);
    expect(files.filter((name) => name.endsWith('.json'))).toHaveLength(1);
    expect(files.filter((name) => name.includes('partial'))).toEqual([]);
  });

  it('cancels a backup still blocked at the end of the grace period: exits 0, no partial archive', async () => {
    const project = makeProject('alembic-project', { daemon: { port: 0, graceSeconds: 1, jobs: jobs('backup') } });
    // pg_dump waits for its lock on `accounts` for up to backup.lockWaitTimeoutMs (30 s by default).
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE');
    try {
      const daemon = startCli(['daemon'], { cwd: project.dir, env: { DATABASE_URL: db.url } });
      await waitForLine(daemon, /backing up /);
      // Let pg_dump start and queue behind the lock.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const signalled = Date.now();
      sigterm(daemon);
      const result = await daemon;
      const elapsed = Date.now() - signalled;
      expect(result.exitCode).toBe(0);
      expect(elapsed).toBeLessThan(1000 + 8000);
      expect(String(result.stdout)).toContain('cancelled: backup');
      const files = existsSync(path.join(project.dir, 'backups')) ? readdirSync(path.join(project.dir, 'backups')) : [];
      expect(files).toEqual([]);
      // pg_dump's backend would wait on the server for the lock long after pg_dump was killed: it was stopped too.
      const leftovers = await db.query("SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'orchestrate/%'");
      expect(leftovers).toEqual([]);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
  });

  it("stops a cancelled job's server backend, which killing its client does not", async () => {
    // A command-adapter tool whose "current" query runs long; psql dies on SIGTERM without cancelling it.
    const project = makeProject('alembic-project', {
      migrator: {
        tool: 'command',
        cwd: '.',
        commands: { upgrade: ['true'], downgrade: ['true'], list: ['echo', '001 first'], current: ['psql', '-X', '-qAt', '-c', 'SELECT pg_sleep(120)'] },
      },
      daemon: { port: 0, graceSeconds: 1, jobs: jobs('pendingCheck') },
    });
    const daemon = startCli(['daemon'], { cwd: project.dir, env: { DATABASE_URL: db.url } });
    await waitForLine(daemon, /job started\s+job=pendingCheck/);
    const sleeping = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'orchestrate/%' AND query LIKE '%pg_sleep%'";
    await expect.poll(async () => (await db.query(sleeping)).length, { timeout: 20_000 }).toBe(1);
    sigterm(daemon);
    const result = await daemon;
    expect(result.exitCode).toBe(0);
    expect(String(result.stdout)).toContain('cancelled: pendingCheck');
    expect(await db.query(sleeping)).toEqual([]);
  });

  it('cancels a long housekeeping sweep: exits 0, no partial archive, nothing removed', async () => {
    const project = makeProject('alembic-project', { daemon: { port: 0, graceSeconds: 1, jobs: jobs('housekeeping', { olderThanDays: 30 }) } });
    const logs = path.join(project.dir, 'logs');
    mkdirSync(logs, { recursive: true });
    // A sparse 2 GiB log: seconds of gzip work, no disk space.
    const big = path.join(logs, '2026-01-01T00-00-00Z-0000beef.jsonl');
    writeFileSync(big, '');
    truncateSync(big, 2 * 1024 ** 3);
    const small = path.join(logs, '2026-01-01T00-00-01Z-0000cafe.jsonl');
    writeFileSync(small, '{"msg":"old"}\n');
    const old = new Date(Date.now() - 60 * DAY);
    for (const file of [big, small]) utimesSync(file, old, old);

    const daemon = startCli(['daemon'], { cwd: project.dir, env: { DATABASE_URL: db.url } });
    await waitForLine(daemon, /bundling old logs/);
    const signalled = Date.now();
    sigterm(daemon);
    const result = await daemon;
    expect(result.exitCode).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(1000 + 8000);
    expect(String(result.stdout)).toContain('cancelled: housekeeping');
    expect(readdirSync(path.join(logs, 'archive'))).toEqual([]);
    expect(statSync(big).size).toBe(2 * 1024 ** 3);
    expect(existsSync(small)).toBe(true);
  });
});

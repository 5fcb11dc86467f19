import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeTarget, parseDatabaseUrl } from '../../src/db/target.js';
import { writeJournal } from '../../src/pipeline/journal.js';
import { appendAudit } from '../../src/report/audit.js';
import { runCli } from '../harness/cli.js';
import { createTestDatabase, urlFor, withAdmin, type TestDatabase } from '../harness/db.js';
import { inProcessDaemon, parsePrometheus, type InProcessDaemon } from './support.js';

const DAY = 86_400_000;

describe('kept <db>_failed_<run> databases', () => {
  let db: TestDatabase;
  let dir: string;
  let reportDir: string;
  let running: InProcessDaemon | undefined;
  const names = (suffix: string) => `${db.name}_failed_${suffix}`;
  const existing = async () =>
    (await withAdmin((client) => client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE '%\\_failed\\_%' ORDER BY datname"))).rows.map((row) => row.datname);

  beforeAll(async () => {
    db = await createTestDatabase('dfail');
    dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-failed-'));
    reportDir = path.join(dir, 'reports');
    writeFileSync(path.join(dir, 'orchestrate.config.json'), JSON.stringify({ env: 'development', rollback: { keepFailedDays: 7 }, daemon: { port: 0 } }));
    await withAdmin(async (client) => {
      for (const name of [names('aaaa0001'), names('bbbb0002'), names('cccc0003'), 'someoneelse_failed_dddd0004']) await client.query(`CREATE DATABASE "${name}"`);
    });
    // Some weight in the oldest one, so its size is more than an empty database's.
    await withAdmin((client) => client.query('CREATE TABLE kept AS SELECT g, repeat(md5(g::text), 20) AS filler FROM generate_series(1, 20000) g'), urlFor(names('aaaa0001')));
    const finishedAt = (daysAgo: number) => new Date(Date.now() - daysAgo * DAY).toISOString();
    // aaaa0001: its journal says it finished 10 days ago; bbbb0002: only its audit line is left (1 day ago);
    // cccc0003: no record at all.
    writeJournal(reportDir, { runId: 'aaaa0001', command: 'upgrade', status: 'rolled-back', exitCode: 6, startedAt: finishedAt(10.01), finishedAt: finishedAt(10), applicationName: 'orchestrate/aaaa0001', steps: [], details: {} });
    appendAudit(reportDir, { runId: 'bbbb0002', command: 'upgrade', outcome: 'rolled-back', exitCode: 6, startedAt: finishedAt(1.01), finishedAt: finishedAt(1), durationMs: 1000, env: 'development', database: db.name, user: 'u', host: 'h' });
  });
  afterEach(async () => {
    await running?.daemon.stop();
    running = undefined;
  });
  afterAll(async () => {
    await withAdmin(async (client) => {
      for (const name of [names('aaaa0001'), names('bbbb0002'), names('cccc0003'), 'someoneelse_failed_dddd0004']) await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    });
    await db.drop();
  });

  it('`orchestrate failed-dbs` lists this target\'s copies with size and age, and which have expired', async () => {
    const result = await runCli(['failed-dbs', '--json'], { cwd: dir, env: { DATABASE_URL: db.url } });
    expect(result.exitCode).toBe(0);
    const listed = JSON.parse(result.stdout) as { keepFailedDays: number; databases: { name: string; runId: string; bytes: number; ageDays: number | null; expired: boolean }[] };
    expect(listed.keepFailedDays).toBe(7);
    expect(listed.databases.map(({ name, expired }) => ({ name, expired }))).toEqual([
      // No record: age unknown, listed first, never expired.
      { name: names('cccc0003'), expired: false },
      { name: names('aaaa0001'), expired: true },
      { name: names('bbbb0002'), expired: false },
    ]);
    const byRun = new Map(listed.databases.map((database) => [database.runId, database]));
    expect(byRun.get('aaaa0001')?.ageDays).toBeCloseTo(10, 1);
    expect(byRun.get('bbbb0002')?.ageDays).toBeCloseTo(1, 1);
    expect(byRun.get('cccc0003')?.ageDays).toBeNull();
    expect(byRun.get('aaaa0001')?.bytes).toBeGreaterThan((byRun.get('bbbb0002')?.bytes ?? 0) + 1_000_000);

    const text = await runCli(['failed-dbs'], { cwd: dir, env: { DATABASE_URL: db.url } });
    expect(text.stdout).toMatch(new RegExp(`${names('aaaa0001')}\\s+aaaa0001\\s+\\S+ MB.*expired`));
  });

  it('the retention job drops only the expired ones, and /metrics counts what is kept', async () => {
    running = await inProcessDaemon(dir, db.url);
    await running.tick('retention');
    expect(running.daemon.runners.get('retention')?.state()).toMatchObject({ lastOutcome: 'succeeded' });
    expect(await existing()).toEqual([names('bbbb0002'), names('cccc0003'), 'someoneelse_failed_dddd0004'].sort());

    const metrics = parsePrometheus((await running.get('/metrics')).body);
    const label = `{database="${describeTarget(parseDatabaseUrl(db.url))}"}`;
    expect(metrics.get(`orchestrate_failed_databases${label}`)).toBe(2);
    expect(metrics.get(`orchestrate_failed_databases_bytes${label}`)).toBeGreaterThan(0);
    expect(metrics.get(`orchestrate_failed_databases_overdue${label}`)).toBe(0);

    // Thirty days on, the one dated by its audit line expires too; the undated one stays.
    running.clock.set(new Date(Date.now() + 30 * DAY));
    await running.tick('retention');
    expect(await existing()).toEqual([names('cccc0003'), 'someoneelse_failed_dddd0004'].sort());
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { runLockKey } from '../../src/pipeline/runLock.js';
import { withAdmin } from '../harness/db.js';
import { alembicRevision } from '../harness/oracle.js';
import { addRevision, databaseState, expectUnchanged, IN_PRODUCTION, latestReport, runBackends, scenario, scratchDatabases, sql, type Scenario } from './helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

/** The databases named after `prefix` (other test files create and drop their own meanwhile). */
async function databaseNames(prefix: string): Promise<string[]> {
  return withAdmin(async (client) => (await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1', [prefix])).rows.map((row) => row.datname));
}

describe('locks, concurrency, dry run, signals', () => {
  it('a session holding ACCESS SHARE: production fails within lock_timeout, rolls back, probes never wait long', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_add_flag', '003_add_order_status', sql('ALTER TABLE orders ADD COLUMN flagged boolean'), sql('ALTER TABLE orders DROP COLUMN flagged'));
    const before = await databaseState(s.db.url);
    const holder = new pg.Client({ connectionString: s.db.url, application_name: 'report-query' });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM orders');

    const probe = new pg.Client({ connectionString: s.db.url, application_name: 'probe' });
    await probe.connect();
    let worstProbeMs = 0;
    let probing = true;
    const probes = (async () => {
      while (probing) {
        const started = Date.now();
        await probe.query('SELECT count(*) FROM orders');
        worstProbeMs = Math.max(worstProbeMs, Date.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const result = await s.cli('upgrade', '--yes', '--lock-timeout', '1000');
    probing = false;
    await probes;
    await holder.query('ROLLBACK');
    await Promise.all([holder.end(), probe.end()]);

    expect(result.exitCode, result.stdout + result.stderr).toBe(6);
    expect(result.stdout).toMatch(/lock timeout/i);
    expect(worstProbeMs).toBeLessThan(1000 + 1000);
    await expectUnchanged(s.db.url, before);
  });

  it('two upgrades started together: one migrates, the other exits 4; the migration runs once', async () => {
    const s = (current = await scenario());
    await s.db.query('CREATE TABLE migration_runs (n integer)');
    addRevision(s.project, '004_counted', '003_add_order_status', sql('INSERT INTO migration_runs VALUES (1)'), sql('DELETE FROM migration_runs'));
    const [first, second] = await Promise.all([s.start('upgrade', '--yes'), s.start('upgrade', '--yes')]);
    const codes = [first.exitCode, second.exitCode].sort();
    expect(codes, `${String(first.all)}\n${String(second.all)}`).toEqual([0, 4]);
    const loser = first.exitCode === 4 ? first : second;
    expect(String(loser.stdout)).toMatch(/another run holds the migration lock/);
    expect(await s.db.query('SELECT count(*)::int AS n FROM migration_runs')).toEqual([{ n: 1 }]);
  });

  it('--dry-run leaves backups/, the database list, the schema and the rows unchanged, and shows the SQL', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const before = await databaseState(s.db.url);
    const databases = await databaseNames(s.db.name);
    const result = await s.cli('upgrade', '--dry-run');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('DRY RUN');
    expect(result.stdout).toContain('ALTER TABLE users ADD COLUMN nickname text');
    expect(await databaseNames(s.db.name)).toEqual(databases);
    const backups = path.join(s.project.dir, 'backups');
    expect(readdirSyncSafe(backups)).toEqual([]);
    expect(readdirSyncSafe(path.join(s.project.dir, 'reports'))).toEqual([]);
    await expectUnchanged(s.db.url, before);
  });

  it('SIGINT mid-migration: the tool and its server work stop, production rolls back, scratch dropped, lock released', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    addRevision(s.project, '005_slow', '004_add_nickname', sql(`SELECT pg_sleep(CASE WHEN ${IN_PRODUCTION} THEN 120 ELSE 0 END)`), 'pass');
    const before = await databaseState(s.db.url);
    const run = s.start('upgrade', '--yes');
    // Wait until the production migration is sleeping on the server.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const sleeping = await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep%' AND application_name LIKE 'orchestrate/%' AND state = 'active'`, [s.db.name])).rowCount);
      if (sleeping) break;
      if (Date.now() > deadline) throw new Error('the migration never started');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    run.kill('SIGINT');
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(6);
    expect(await runBackends(s.db.name)).toEqual([]);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
    await expectUnchanged(s.db.url, before);
    expect(latestReport(s.project).outcome).toBe('rolled-back');
    // The lock is free again: a command that takes it (and waits 0 s for it) proceeds.
    const next = await s.cli('backup');
    expect(next.exitCode, next.stdout + next.stderr).toBe(0);
  });

  it('the lock session is terminated during the rehearsal: the run stops with exit 4 before production is touched', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_add_nickname', '003_add_order_status', `${sql('ALTER TABLE users ADD COLUMN nickname text')}\n    ${sql(`SELECT pg_sleep(CASE WHEN ${IN_PRODUCTION} THEN 0 ELSE 60 END)`)}`, sql('ALTER TABLE users DROP COLUMN nickname'));
    const before = await databaseState(s.db.url);
    const run = s.start('upgrade', '--yes');
    await waitForSleep(`starts_with(datname, '${s.db.name}_')`);
    expect(await terminateLockSession(s.db.name)).toHaveLength(1);
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(4);
    expect(String(result.all)).toMatch(/migration lock on database "[^"]+" was lost .*stopped before production was touched/);
    await expectUnchanged(s.db.url, before);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
    expect(await runBackends(s.db.name)).toEqual([]);
    expect(latestReport(s.project)).toMatchObject({ outcome: 'locked', exitCode: 4 });
  });

  it('the lock session is terminated during the production migration: the run finishes, says so loudly, and a second upgrade started meanwhile exits 4', async () => {
    const s = (current = await scenario());
    await s.db.query('CREATE TABLE migration_runs (n integer)');
    addRevision(s.project, '004_counted', '003_add_order_status', `${sql('INSERT INTO migration_runs VALUES (1)')}\n    ${sql(`SELECT pg_sleep(CASE WHEN ${IN_PRODUCTION} THEN 20 ELSE 0 END)`)}`, sql('DELETE FROM migration_runs'));
    const first = s.start('upgrade', '--yes');
    await waitForSleep(`datname = '${s.db.name}'`);
    const terminated = await terminateLockSession(s.db.name);
    expect(terminated).toHaveLength(1);
    // The first run takes the lock again at once, on a new session.
    await waitFor('the lock to be taken again', async () => (await lockSessionPids(s.db.name)).some((pid) => !terminated.includes(pid)));
    const second = await s.cli('upgrade', '--yes');
    const stillMigrating = await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep%' AND state = 'active'`, [s.db.name])).rowCount);
    expect(stillMigrating, 'the second run must have been refused while the first was still migrating').toBe(1);
    expect(second.exitCode, second.stdout + second.stderr).toBe(4);
    expect(second.stdout + second.stderr).toMatch(/another run holds the migration lock/);

    const result = await first;
    expect(result.exitCode, String(result.all)).toBe(0);
    expect(String(result.stdout)).toMatch(/RUN LOCK LOST during the production migration: .*was lost.*; the migration lock taken again on a new session/);
    const report = latestReportOf(s, 'upgrade', 0);
    expect(report.warnings.join('\n')).toMatch(/taken again on a new session/);
    expect(report.details.runLockLost).toHaveLength(2);
    expect(await s.db.query('SELECT count(*)::int AS n FROM migration_runs')).toEqual([{ n: 1 }]);
    expect(await alembicRevision(s.db.name)).toBe('004_counted');
  });

  it('the lock is taken by another session during the production migration, which then fails: no rollback is attempted without the lock (exit 7)', async () => {
    const s = (current = await scenario());
    const key = runLockKey(s.db.name).toString();
    const steal = `PERFORM pg_terminate_backend(pid), pg_advisory_lock((${key})::bigint) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'orchestrate/%/lock'`;
    addRevision(
      s.project,
      '004_steals_the_lock',
      '003_add_order_status',
      sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN ${steal}; PERFORM pg_sleep(2); RAISE EXCEPTION 'boom after taking the lock'; END IF; END $$`),
      'pass',
    );
    const before = await databaseState(s.db.url);
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(7);
    expect(result.stdout).toMatch(/not rolling back: the migration lock on database "[^"]+" was lost .* could not be taken again/);
    expect(result.stdout).toMatch(/RUN LOCK LOST/);
    const report = latestReport(s.project);
    expect(report.details.rollback).toMatchObject({ path: 'none', verified: false });
    // The failed migration's transaction was rolled back by the server; nothing else wrote.
    expect(await alembicRevision(s.db.name)).toBe('003_add_order_status');
    expect(report.revisionAfter).toBe('003_add_order_status');
    await expectUnchanged(s.db.url, before);
  });
});

async function waitFor(what: string, probe: () => Promise<boolean>, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Until a run's pg_sleep is running in a database matching `where`. */
function waitForSleep(where: string): Promise<void> {
  return waitFor('the migration to sleep', async () =>
    Boolean(await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE ${where} AND query LIKE '%pg_sleep%' AND application_name LIKE 'orchestrate/%' AND state = 'active'`)).rowCount)),
  );
}

const LOCK_SESSION = `datname = $1 AND application_name LIKE 'orchestrate/%/lock'`;

/** Terminates the run's lock session; returns the pids terminated. */
async function terminateLockSession(database: string): Promise<number[]> {
  return withAdmin(async (client) => (await client.query<{ pid: number }>(`SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${LOCK_SESSION}`, [database])).rows.map((row) => row.pid));
}

async function lockSessionPids(database: string): Promise<number[]> {
  return withAdmin(async (client) => (await client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE ${LOCK_SESSION}`, [database])).rows.map((row) => row.pid));
}

function latestReportOf(s: Scenario, command: string, exitCode: number): ReturnType<typeof latestReport> & { warnings: string[] } {
  const dir = path.join(s.project.dir, 'reports');
  const reports = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as ReturnType<typeof latestReport> & { command: string; warnings: string[] });
  const found = reports.find((report) => report.command === command && report.exitCode === exitCode);
  if (!found) throw new Error(`no ${command} report with exit ${exitCode}`);
  return found;
}

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

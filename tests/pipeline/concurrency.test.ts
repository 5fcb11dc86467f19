import { readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { withAdmin } from '../harness/db.js';
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

  it('--dry-run leaves backups/, the database list and the fingerprint unchanged, and shows the SQL', async () => {
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
    // The lock is free again: a new run proceeds (and, without the blocking migration, reports the plan).
    const next = await s.cli('upgrade', '--dry-run');
    expect(next.exitCode).toBe(0);
  });
});

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli } from '../harness/cli.js';
import { createTestDatabase, withAdmin, type TestDatabase } from '../harness/db.js';
import { filesUnder, makeStore } from './helpers.js';

const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const db of databases) await db.drop();
});

describe('backup under the run lock', () => {
  it('the lock session is terminated while pg_dump works: pg_dump is stopped, exit 4, no backup kept', async () => {
    const db = await createTestDatabase('bk_lost');
    databases.push(db);
    await db.query(`CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 100)`);
    const dir = makeStore();
    // pg_dump queues behind this lock (up to backup.lockWaitTimeoutMs, 30 s): the window to lose the run lock in.
    const blocker = new pg.Client({ connectionString: db.url, application_name: 'blocker' });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
    try {
      const run = startCli(['backup'], { cwd: dir, env: { DATABASE_URL: db.url } });
      const deadline = Date.now() + 60_000;
      for (;;) {
        const waiting = await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND application_name LIKE 'orchestrate/%'`, [db.name])).rowCount);
        if (waiting) break;
        if (Date.now() > deadline) throw new Error('pg_dump never queued for the table lock');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const terminated = await withAdmin(async (client) => (await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'orchestrate/%/lock'`, [db.name])).rowCount);
      expect(terminated).toBe(1);
      const result = await run;
      expect(result.exitCode, String(result.all)).toBe(4);
      expect(String(result.stderr)).toMatch(/migration lock on database "[^"]+" was lost .*the backup was stopped/);
      expect(filesUnder(`${dir}/backups`).filter((file) => file.endsWith('.json'))).toEqual([]);
      const left = await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'orchestrate/%'`, [db.name])).rowCount);
      expect(left).toBe(0);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, withAdmin, type TestDatabase } from '../harness/db.js';
import { backupQueuedBehindLock, filesUnder, makeStore } from './helpers.js';

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
    // pg_dump queues behind this lock: the window to lose the run lock in.
    const { run, release } = await backupQueuedBehindLock(db, dir, 'items');
    try {
      const terminated = await withAdmin(async (client) => (await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'orchestrate/%/lock'`, [db.name])).rowCount);
      expect(terminated).toBe(1);
      const result = await run;
      expect(result.exitCode, String(result.all)).toBe(4);
      expect(String(result.stderr)).toMatch(/migration lock on database "[^"]+" was lost .*the backup was stopped/);
      expect(filesUnder(`${dir}/backups`).filter((file) => file.endsWith('.json'))).toEqual([]);
      const left = await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'orchestrate/%'`, [db.name])).rowCount);
      expect(left).toBe(0);
    } finally {
      await release();
    }
  });
});

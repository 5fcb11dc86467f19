import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { scenario, type Scenario } from '../pipeline/helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

describe('a read-only tool call queued behind a lock', () => {
  it('`current` gives up within its lock timeout and names what it waited for', { timeout: 120_000 }, async () => {
    const s = (current = await scenario());
    const holder = new pg.Client({ connectionString: s.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const result = await s.cli('current');
      const elapsed = Date.now() - started;
      expect(result.exitCode, result.stdout + result.stderr).not.toBe(0);
      expect(result.stderr).toMatch(/lock timeout/);
      expect(result.stderr).toMatch(/alembic_version/);
      expect(elapsed).toBeLessThan(60_000);
    } finally {
      await holder.end();
    }
  });
});

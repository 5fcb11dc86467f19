import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { schemaDump, tableContents } from '../harness/oracle.js';
import { withAdmin } from '../harness/db.js';
import { addRevision, databaseState, latestReport, scenario, sql, type Scenario } from './helpers.js';

/**
 * Real lock timeouts against a real blocking session: a transaction on production that holds a lock
 * on "orders" which the migration's ALTER TABLE needs. The rehearsal runs on a scratch copy nobody
 * holds, so only production's attempts wait.
 */

let current: Scenario | undefined;
let blocker: pg.Client | undefined;
afterEach(async () => {
  await blocker?.end().catch(() => undefined);
  blocker = undefined;
  await current?.db.drop();
  current = undefined;
});

interface Attempt {
  attempt: number;
  lockTimeoutMs: number;
  outcome: string;
  blockers: { pid: number; applicationName: string; query: string; xactAgeSeconds: number | null }[];
}

async function holdLock(url: string, statement: string): Promise<{ client: pg.Client; pid: number }> {
  const client = new pg.Client({ connectionString: url, application_name: 'analytics-report' });
  await client.connect();
  // Asked first, so that the statement holding the lock is the session's last one, as the report shows it.
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid ?? 0;
  await client.query('BEGIN');
  await client.query(statement);
  return { client, pid };
}

/** Pids of the run's production tool sessions seen waiting for a lock, in order of first sight. */
async function waitingToolPids(database: string): Promise<number[]> {
  return withAdmin(async (client) =>
    (
      await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name ~ '^orchestrate/[^/]+$' AND wait_event_type = 'Lock' ORDER BY backend_start`,
        [database],
      )
    ).rows.map((row) => row.pid),
  );
}

const ADD_NOTE = () => sql('ALTER TABLE orders ADD COLUMN note text');
const DROP_NOTE = () => sql('ALTER TABLE orders DROP COLUMN note');

describe('lock retries', () => {
  it('a blocker that lets go after the second attempt: the third succeeds (exit 0, 3 attempts recorded, the blocker named)', async () => {
    const s = (current = await scenario({ pipeline: { lockTimeoutMs: 2000, lockRetries: 5 } }));
    addRevision(s.project, '004_order_note', '003_add_order_status', ADD_NOTE(), DROP_NOTE());
    const held = await holdLock(s.db.url, 'SELECT count(*) FROM orders');
    blocker = held.client;

    const run = s.start('upgrade', '--yes');
    // Release once the second waiting attempt has ended: its session is gone from the waiters.
    const seen: number[] = [];
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const waiting = await waitingToolPids(s.db.name);
      for (const pid of waiting) if (!seen.includes(pid)) seen.push(pid);
      if (seen.length >= 2 && !waiting.includes(seen[1] ?? -1)) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(seen.length).toBeGreaterThanOrEqual(2);
    await held.client.query('COMMIT');

    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(0);
    expect((await databaseState(s.db.url)).revision).toBe('004_order_note');
    const report = latestReport(s.project);
    const { attempts } = report.details.productionLockAttempts as { attempts: Attempt[] };
    expect(attempts.map((attempt) => attempt.outcome)).toEqual(['lock timeout', 'lock timeout', 'succeeded']);
    // Short timeouts first, growing towards the ceiling.
    expect(attempts[0]?.lockTimeoutMs).toBeLessThan(attempts[1]?.lockTimeoutMs ?? 0);
    expect(attempts[0]?.blockers[0]).toMatchObject({ pid: held.pid, applicationName: 'analytics-report' });
    expect(attempts[0]?.blockers[0]?.query).toContain('FROM orders');
  });

  it('a blocker that never lets go: exit 6 after the last attempt, the blocker named and linked to preflight, production unchanged', async () => {
    const s = (current = await scenario({ pipeline: { lockTimeoutMs: 400 }, preflight: { idleInTransactionSeconds: 0 } }));
    addRevision(s.project, '004_order_note', '003_add_order_status', ADD_NOTE(), DROP_NOTE());
    const held = await holdLock(s.db.url, 'SELECT count(*) FROM orders');
    blocker = held.client;
    const schemaBefore = await schemaDump(s.db.name);
    const rowsBefore = await tableContents(s.db.name);

    const result = await s.cli('upgrade', '--yes', '--lock-retries', '2');
    expect(result.exitCode, result.stderr).toBe(6);
    expect(result.stderr).toMatch(new RegExp(`blocked by pid ${held.pid} \\(analytics-report, .*'SELECT count\\(\\*\\) FROM orders', idle in transaction, in transaction for \\d+ s\\)`));
    expect(result.stderr).toContain('(preflight warned of it: sessions:idle-in-transaction); 3 attempts');
    const report = latestReport(s.project);
    const { attempts } = report.details.productionLockAttempts as { attempts: Attempt[] };
    expect(attempts.map((attempt) => attempt.outcome)).toEqual(['lock timeout', 'lock timeout', 'lock timeout']);
    expect(attempts.at(-1)?.lockTimeoutMs).toBe(400);
    for (const attempt of attempts) expect(attempt.blockers.map((b) => b.pid)).toContain(held.pid);

    await held.client.query('ROLLBACK');
    expect(await schemaDump(s.db.name)).toBe(schemaBefore);
    expect(await tableContents(s.db.name)).toEqual(rowsBefore);
  });

  it('--lock-retries 0: one attempt only', async () => {
    const s = (current = await scenario({ pipeline: { lockTimeoutMs: 300 } }));
    addRevision(s.project, '004_order_note', '003_add_order_status', ADD_NOTE(), DROP_NOTE());
    blocker = (await holdLock(s.db.url, 'SELECT count(*) FROM orders')).client;
    const result = await s.cli('upgrade', '--yes', '--lock-retries', '0');
    expect(result.exitCode, result.stderr).toBe(6);
    const { attempts, notRetried } = latestReport(s.project).details.productionLockAttempts as { attempts: Attempt[]; notRetried: string };
    expect(attempts).toHaveLength(1);
    expect(notRetried).toMatch(/lock retries are off/);
  });

  it('a non-transactional migration (CREATE INDEX CONCURRENTLY in an autocommit block) is never retried', async () => {
    const s = (current = await scenario({ pipeline: { lockTimeoutMs: 300, lockRetries: 5 } }));
    addRevision(
      s.project,
      '004_orders_total_idx',
      '003_add_order_status',
      `with op.get_context().autocommit_block():\n        ${sql('CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total_cents)')}`,
      sql('DROP INDEX IF EXISTS orders_total_idx'),
    );
    // SHARE UPDATE EXCLUSIVE conflicts with the lock CREATE INDEX CONCURRENTLY takes.
    blocker = (await holdLock(s.db.url, 'LOCK TABLE orders IN SHARE UPDATE EXCLUSIVE MODE')).client;
    const schemaBefore = await schemaDump(s.db.name);

    const result = await s.cli('upgrade', '--yes');
    expect([6, 7]).toContain(result.exitCode);
    const { attempts, notRetried } = latestReport(s.project).details.productionLockAttempts as { attempts: Attempt[]; notRetried: string };
    expect(attempts).toHaveLength(1);
    expect(notRetried).toMatch(/not transactional: 004_orders_total_idx: it runs CREATE INDEX CONCURRENTLY/);
    await blocker.query('ROLLBACK');
    if (result.exitCode === 6) expect(await schemaDump(s.db.name)).toBe(schemaBefore);
    expect((await databaseState(s.db.url)).revision).toBe('003_add_order_status');
  });
});

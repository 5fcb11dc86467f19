import { afterEach, describe, expect, it } from 'vitest';
import { withAdmin } from '../harness/db.js';
import { addRevision, IN_PRODUCTION, latestReport, runBackends, scenario, sql, type Scenario } from './helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

async function waitForSleep(database: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const found = await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep%' AND application_name LIKE 'orchestrate/%' AND state = 'active'`, [database])).rowCount);
    if (found) return;
    if (Date.now() > deadline) throw new Error('the migration never started');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the orchestrator killed with SIGKILL mid-migration', () => {
  it('the next run finds the interrupted run, stops its leftover backends, and finishes consistently', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_slow', '003_add_order_status', sql(`SELECT pg_sleep(CASE WHEN ${IN_PRODUCTION} THEN 300 ELSE 0 END)`), 'pass');
    const killed = s.start('upgrade', '--yes');
    await waitForSleep(s.db.name);
    killed.kill('SIGKILL');
    await killed.catch(() => undefined);
    // The killed run's statement is still running on the server: killing a client does not stop it.
    expect((await runBackends(s.db.name)).length).toBeGreaterThan(0);

    addRevision(s.project, '004_slow', '003_add_order_status', sql('SELECT 1'), 'pass');
    const next = await s.cli('upgrade', '--yes');
    expect(next.exitCode, next.stdout + next.stderr).toBe(0);
    const report = latestReport(s.project);
    expect(JSON.stringify(report.warnings)).toMatch(/was interrupted; stopped \d+ leftover backends/);
    expect(await runBackends(s.db.name)).toEqual([]);
    expect(await s.db.query('SELECT version_num FROM alembic_version')).toEqual([{ version_num: '004_slow' }]);
  });
});

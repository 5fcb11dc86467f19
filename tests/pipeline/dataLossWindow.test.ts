import { afterEach, describe, expect, it } from 'vitest';
import { addRevision, IN_PRODUCTION, latestReport, scenario, sql, type Scenario } from './helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

describe('the data-loss window of a restore', () => {
  it("counts the application's rows, not the migration tool's own alembic_version writes", async () => {
    const s = (current = await scenario({ rollback: { restore: 'never' } }));
    addRevision(s.project, '004_touch_users', '003_add_order_status', sql(`UPDATE users SET email = email WHERE id <= 5 AND ${IN_PRODUCTION}`), 'raise RuntimeError("downgrade is broken")');
    addRevision(s.project, '005_fails_in_production', '004_touch_users', sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN RAISE EXCEPTION 'boom'; END IF; END $$`), 'pass');
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stdout + result.stderr).toBe(7);
    // 004 committed in production: its UPDATE and alembic's version update were made by one session, published together.
    const window = latestReport(s.project).details.dataLossWindow as Record<string, { updated: number }>;
    expect(window['public.users']?.updated).toBeGreaterThanOrEqual(5);
    expect(Object.keys(window)).not.toContain('public.alembic_version');
    expect(result.stdout).toMatch(/at least \d+ rows written since the backup would be lost/);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { addRevision, databaseState, expectUnchanged, scenario, scratchDatabases, sql, type Scenario } from './helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

describe('orchestrate test', () => {
  it('passes on a migration whose downgrade undoes it, touching only a scratch copy', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const before = await databaseState(s.db.url);
    const result = await s.cli('test');
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/passed/);
    await expectUnchanged(s.db.url, before);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });

  it('exits 5 naming the column a downgrade forgets to drop', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), 'pass');
    const before = await databaseState(s.db.url);
    const result = await s.cli('test');
    expect(result.exitCode, result.stdout + result.stderr).toBe(5);
    expect(result.stdout).toMatch(/users\.nickname/);
    await expectUnchanged(s.db.url, before);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });
});

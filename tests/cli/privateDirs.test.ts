import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addRevision, scenario, sql, type Scenario } from '../pipeline/helpers.js';

let s: Scenario | undefined;
afterAll(async () => {
  await s?.db.drop();
});

describe('the directories orchestrate creates', () => {
  it('logs/, reports/, reports/runs/ and backups/ are private (0700), like the files in them (0600)', async () => {
    s = await scenario();
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(0);
    for (const dir of ['logs', 'reports', path.join('reports', 'runs'), 'backups']) {
      const full = path.join(s.project.dir, dir);
      expect(existsSync(full), dir).toBe(true);
      expect(statSync(full).mode & 0o777, dir).toBe(0o700);
    }
  });
});

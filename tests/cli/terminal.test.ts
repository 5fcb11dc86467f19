import { afterEach, describe, expect, it } from 'vitest';
import { addRevision, IN_PRODUCTION, scenario, sql, type Scenario } from '../pipeline/helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

const CONTROL = /\u001b|\r/;

describe('the terminal when it is not a TTY (CI, deploy.sh, cron)', () => {
  it('one plain line per step on stderr, then a summary: outcome, exit code, production, report', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(CONTROL);
    // Step names fill 13 columns, then the status.
    expect(result.stderr.split('\n').filter(Boolean).map((line) => `${line.slice(0, 13).trim()} ${line.slice(14).split(/\s+/)[0] ?? ''}`)).toEqual([
      'preflight ok',
      'tool target ok',
      'lock ok',
      'backup ok',
      'rehearsal ok',
      'policy ok',
      'migrate ok',
      'validate ok',
    ]);
    const summary = result.stdout.trim().split('\n');
    expect(summary[0]).toMatch(/^succeeded \(exit 0, [\d.]+ (s|ms)\): upgraded 003_add_order_status -> 004_add_nickname \(1 migration\), validated$/);
    expect(summary[1]).toBe(`production: ${s.db.url.replace(/^postgresql:\/\/([^:]+):[^@]*@/, '$1@').replace(/\/([^/]+)$/, '/$1')} at revision 004_add_nickname, validated`);
    expect(summary[2]).toMatch(/^report: .*\.md$/);
  });

  it('a rollback: the summary says so in the words of the exit-code table, what production is now, and no next command (nothing for a human to do)', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    addRevision(s.project, '005_fails_in_production', '004_add_nickname', sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN RAISE EXCEPTION 'boom in production'; END IF; END $$`), 'pass');
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(6);
    expect(result.stderr).not.toMatch(CONTROL);
    expect(result.stderr).toMatch(/^migrate\s+FAILED\s+.*boom in production/m);
    expect(result.stderr).toMatch(/^undo migrate\s+ok\s+/m);
    expect(result.stdout).toMatch(/^production step failed and was rolled back \(exit 6, .*\): migrate failed: .*boom in production/m);
    expect(result.stdout).toMatch(/^production: .* at revision 003_add_order_status, verified equal to before the run$/m);
    expect(result.stdout).not.toMatch(/^next:/m);
  });

  it('--verbose shows every event, as the log has them', async () => {
    const s = (current = await scenario());
    const result = await s.cli('upgrade', '--yes', '--verbose');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^\d\d:\d\d:\d\d INFO  preflight: started/m);
    expect(result.stdout).toContain('up to date at 003_add_order_status');
  });
});

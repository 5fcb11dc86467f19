import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withAdmin } from '../harness/db.js';
import { addRevision, databaseState, expectUnchanged, failingToolDir, IN_PRODUCTION, latestReport, scenario, scenarioWithConfig, scratchDatabases, sql, type Scenario } from './helpers.js';

/**
 * Rollback by restore overlapped with the downgrade (rollback.overlapRestore): the copy is restored
 * beside production while the downgrade runs, swapped in when the downgrade fails, dropped when it
 * verifies, and dropped by the next run's crash recovery when orchestrate is killed meanwhile.
 */

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A revision 004 whose downgrade sleeps `seconds` in production, then runs `after`; 005 fails in production only. */
function slowDowngrade(s: Scenario, seconds: number, after: string): void {
  addRevision(s.project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), `${sql(`SELECT pg_sleep(CASE WHEN ${IN_PRODUCTION} THEN ${seconds} ELSE 0 END)`)}\n    ${after}`);
  addRevision(s.project, '005_fails_in_production', '004_add_nickname', sql(`DO $$ BEGIN IF ${IN_PRODUCTION} THEN RAISE EXCEPTION 'boom in production'; END IF; END $$`), 'pass');
}

interface Seen {
  /** A database `<db>_restore_*` existed while the downgrade's pg_sleep was running. */
  copyDuringDowngrade: boolean;
  /** The run id, read from the running journal. */
  runId?: string;
}

/** Until `done` settles: watches for the downgrade's pg_sleep and, while it runs, for the restore copy. */
async function watchDowngrade(s: Scenario, done: Promise<unknown>): Promise<Seen> {
  let finished = false;
  void done.finally(() => (finished = true));
  const seen: Seen = { copyDuringDowngrade: false };
  while (!finished && !seen.copyDuringDowngrade) {
    const observed = await withAdmin(async (client) => {
      const sleeping = await client.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep%' AND application_name LIKE 'orchestrate/%' AND state = 'active'`, [s.db.name]);
      const copies = await client.query(`SELECT 1 FROM pg_database WHERE starts_with(datname, $1)`, [`${s.db.name}_restore_`]);
      // The sleep is looked at again after the copy: both at once, in this order, means the copy came first.
      const stillSleeping = await client.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep%' AND application_name LIKE 'orchestrate/%' AND state = 'active'`, [s.db.name]);
      return (sleeping.rowCount ?? 0) > 0 && (copies.rowCount ?? 0) > 0 && (stillSleeping.rowCount ?? 0) > 0;
    });
    if (observed) seen.copyDuringDowngrade = true;
    else await sleep(100);
  }
  const dir = path.join(s.project.dir, 'reports', 'runs');
  const running = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as { runId: string; status: string })
    .find((journal) => journal.status === 'running');
  if (running) seen.runId = running.runId;
  return seen;
}

interface RollbackDetail {
  path: string;
  verified: boolean;
  attempts: string[];
  keptFailedDatabase?: string;
  restoreCopy?: { database: string; overlapped: boolean; readyAfterMs?: number; outcome?: string };
}

/** A failing upgrade, watched while it rolls back: exit 6 and production as before by the independent oracle. */
async function failingUpgrade(s: Scenario): Promise<{ seen: Seen; rollback: RollbackDetail }> {
  const before = await databaseState(s.db.url);
  const run = s.cli('upgrade', '--yes');
  const seen = await watchDowngrade(s, run);
  const result = await run;
  expect(result.exitCode, result.stdout + result.stderr).toBe(6);
  await expectUnchanged(s.db.url, before);
  return { seen, rollback: latestReport(s.project).details.rollback as RollbackDetail };
}

/** The database a restore replaced is kept as evidence: the only one left beside production. */
async function dropKeptFailed(s: Scenario, rollback: RollbackDetail): Promise<void> {
  expect(await scratchDatabases(s.db.name)).toEqual([rollback.keptFailedDatabase]);
  await s.db.query(`DROP DATABASE "${String(rollback.keptFailedDatabase)}" WITH (FORCE)`);
}

describe('rollback by restore, overlapped with the downgrade', { timeout: 240_000 }, () => {
  it('the downgrade raises: the copy was restored while it ran, is checked and swapped in; exit 6 and production as before', async () => {
    const s = (current = await scenario({ rollback: { restore: 'auto' } }));
    slowDowngrade(s, 4, 'raise RuntimeError("downgrade is broken")');
    const { seen, rollback } = await failingUpgrade(s);
    expect(seen.copyDuringDowngrade).toBe(true);
    expect(rollback).toMatchObject({ path: 'restore', verified: true, restoreCopy: { overlapped: true, outcome: 'swapped' } });
    expect(rollback.attempts.join('\n')).toMatch(/tool downgrade failed \(\d+\.\d s\).*\n.*restored alongside the downgrade/);
    await dropKeptFailed(s, rollback);
  });

  it('the downgrade succeeds and verifies: the copy made meanwhile is dropped, production is as before', async () => {
    const s = (current = await scenario({ rollback: { restore: 'auto' } }));
    slowDowngrade(s, 4, sql('ALTER TABLE users DROP COLUMN nickname'));
    const { seen, rollback } = await failingUpgrade(s);
    expect(seen.copyDuringDowngrade).toBe(true);
    expect(rollback).toMatchObject({ path: 'downgrade', verified: true, restoreCopy: { overlapped: true, outcome: 'dropped' } });
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });

  it('rollback.overlapRestore false: no copy while the downgrade runs; restored after it, as before', async () => {
    const s = (current = await scenario({ rollback: { restore: 'auto', overlapRestore: false } }));
    slowDowngrade(s, 3, 'raise RuntimeError("downgrade is broken")');
    const { seen, rollback } = await failingUpgrade(s);
    expect(seen.copyDuringDowngrade).toBe(false);
    expect(rollback).toMatchObject({ path: 'restore', verified: true, restoreCopy: { overlapped: false, outcome: 'swapped' } });
    await dropKeptFailed(s, rollback);
  });

  it('orchestrate killed with SIGKILL during the overlap: the next run recovers it and drops the copy', async () => {
    const s = (current = await scenario({ rollback: { restore: 'auto' } }));
    slowDowngrade(s, 300, 'raise RuntimeError("downgrade is broken")');
    const killed = s.start('upgrade', '--yes');
    const ended = killed.then((result) => result.exitCode);
    const seen = await watchDowngrade(s, ended);
    expect(seen.copyDuringDowngrade).toBe(true);
    expect(seen.runId).toBeDefined();
    const copy = `${s.db.name}_restore_${String(seen.runId)}`;
    expect(await scratchDatabases(s.db.name)).toContain(copy);
    killed.kill('SIGKILL');
    await killed;

    // `backup` takes the run lock, so it recovers the dead run first.
    const backup = await s.cli('backup');
    expect(backup.exitCode, backup.stdout + backup.stderr).toBe(0);
    // Killed during its undo, before its cleanups: the rehearsal's copy is left too, and dropped with it.
    expect(backup.stderr).toMatch(new RegExp(`killed during undo migrate; .*dropped [^;]*${copy}`));
    expect(await scratchDatabases(s.db.name)).toEqual([]);
  });

  it('backup.niceness and ioPriority lower the rehearsal\'s pg_restore, never the rollback\'s', async () => {
    const s = (current = await scenario({ rollback: { restore: 'auto' }, backup: { niceness: 12, ioPriority: 'idle' } }));
    slowDowngrade(s, 0, 'raise RuntimeError("downgrade is broken")');
    // A pg_restore that writes down its own nice value and I/O class, then runs the real one (never fails).
    const log = path.join(s.project.dir, 'pg_restore.log');
    const shim = failingToolDir(s.project, 'pg_restore', `{ echo "$(nice) $(ionice -p $$) $*" >> ${log}; false; }`);
    const { rollback } = await failingUpgrade(scenarioWithConfig(s, { tools: { pgBinDir: shim } }));
    expect(rollback).toMatchObject({ path: 'restore', verified: true });
    const restores = readFileSync(log, 'utf8').split('\n').filter((line) => line.includes('--dbname='));
    const into = (purpose: string) => restores.filter((line) => line.includes(`_${purpose}_`));
    expect(into('rehearsal')).toEqual([expect.stringMatching(/^12 idle /)]);
    expect(into('restore')).toEqual([expect.stringMatching(new RegExp(`^${os.getPriority()} none: prio \\d `))]);
    await dropKeptFailed(s, rollback);
  });
});

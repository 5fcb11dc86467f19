import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { inProcessDaemon } from '../daemon/support.js';
import { withAdmin } from '../harness/db.js';
import { processesWithEnvironment } from '../harness/procwatch.js';
import { journalOwner, writeJournal } from '../../src/pipeline/journal.js';
import { addRevision, databaseState, expectUnchanged, IN_PRODUCTION, latestReport, scenario, scratchDatabases, sql, type Scenario } from './helpers.js';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.db.drop();
  current = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until a session of an orchestrate run on `database` or its scratch copies is running pg_sleep. */
async function waitForSleep(database: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const found = await withAdmin(
      async (client) =>
        (await client.query(`SELECT 1 FROM pg_stat_activity WHERE starts_with(datname, $1) AND query LIKE '%pg_sleep%' AND application_name LIKE 'orchestrate/%' AND state = 'active'`, [database])).rowCount,
    );
    if (found) return;
    if (Date.now() > deadline) throw new Error('the migration never started');
    await sleep(200);
  }
}

interface Journal {
  runId: string;
  status: string;
  applicationName: string;
  details: Record<string, unknown> & { recovery?: { verdict: string; droppedDatabases: string[]; revision: string | null; acknowledgedBy?: string } };
}

function journals(s: Scenario): Journal[] {
  const dir = path.join(s.project.dir, 'reports', 'runs');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Journal);
}

function runningJournal(s: Scenario): Journal {
  const running = journals(s).filter((journal) => journal.status === 'running');
  expect(running).toHaveLength(1);
  return running[0] as Journal;
}

/** Backends whose application_name starts with the run's, anywhere on the server. */
async function backendsOf(applicationName: string): Promise<string[]> {
  return withAdmin(async (client) => (await client.query<{ name: string }>(`SELECT application_name AS name FROM pg_stat_activity WHERE starts_with(application_name, $1)`, [applicationName])).rows.map((row) => row.name));
}

async function revision(s: Scenario): Promise<string | undefined> {
  return ((await s.db.query('SELECT version_num FROM alembic_version')) as { version_num: string }[])[0]?.version_num;
}

/**
 * SIGKILLs the CLI once a pg_sleep of its run is running, then checks, 1 s later, that no process
 * of the run (anything whose environment names the database) and none of its backends remain.
 */
async function killMidStep(s: Scenario, ...args: string[]): Promise<Journal> {
  const killed = s.start(...args);
  const ended = killed.then((result) => {
    throw new Error(`the run ended before it was killed (exit ${result.exitCode}): ${String(result.all)}`);
  });
  await Promise.race([waitForSleep(s.db.name), ended]);
  // Killed below: its end is expected from here on.
  ended.catch(() => undefined);
  const journal = runningJournal(s);
  expect(processesWithEnvironment(s.db.name).length).toBeGreaterThan(0);
  killed.kill('SIGKILL');
  await killed;
  await sleep(1_000);
  expect(processesWithEnvironment(s.db.name)).toEqual([]);
  expect(await backendsOf(journal.applicationName)).toEqual([]);
  return journal;
}

/** The journal of an upgrade whose process died during `step` (its pid is one that has exited). */
async function writeDeadRunJournal(s: Scenario, runId: string, step: string): Promise<void> {
  const dead = await execa(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  writeJournal(path.join(s.project.dir, 'reports'), {
    runId,
    command: 'upgrade',
    status: 'running',
    startedAt: new Date().toISOString(),
    applicationName: `orchestrate/${runId}`,
    steps: [{ name: step, status: 'running' }],
    details: { ...journalOwner(), pid: Number(dead.stdout), database: s.db.name },
  });
}

describe('orchestrate killed with SIGKILL', { timeout: 300_000 }, () => {
  it('during the rehearsal: the tool dies with it, and the next run drops the scratch copy, marks the run crashed and carries on', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_slow', '003_add_order_status', sql(`SELECT pg_sleep(CASE WHEN ${IN_PRODUCTION} THEN 0 ELSE 300 END)`), 'pass');
    const killed = await killMidStep(s, 'upgrade', '--yes');
    expect(await scratchDatabases(s.db.name)).toHaveLength(1);

    addRevision(s.project, '004_slow', '003_add_order_status', sql('SELECT 1'), 'pass');
    const next = await s.cli('upgrade', '--yes');
    expect(next.exitCode, next.stdout + next.stderr).toBe(0);
    expect(next.stderr).toContain(`run ${killed.runId} (upgrade`);
    expect(next.stderr).toMatch(/killed during rehearsal; .*verified equal to before that run/);
    const recovered = journals(s).find((journal) => journal.runId === killed.runId);
    expect(recovered?.status).toBe('crashed');
    expect(recovered?.details.recovery?.verdict).toBe('as-before');
    expect(recovered?.details.recovery?.droppedDatabases).toEqual([`${s.db.name}_rehearsal_${killed.runId}`]);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
    expect(await revision(s)).toBe('004_slow');
    const report = latestReport(s.project);
    expect(report.revisionAfter).toBe('004_slow');
    expect(JSON.stringify(report.warnings)).toContain(`run ${killed.runId} (upgrade`);
  });

  it('during the production migration: the tool dies with it, its transaction is rolled back, and the next command taking the lock (backup) verifies production is as before', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_slow', '003_add_order_status', sql(`SELECT pg_sleep(CASE WHEN ${IN_PRODUCTION} THEN 300 ELSE 0 END)`), 'pass');
    const killed = await killMidStep(s, 'upgrade', '--yes');
    // Nothing finishes the migration behind our back.
    await sleep(1_000);
    expect(await revision(s)).toBe('003_add_order_status');

    // `backup` takes the run lock too: it recovers the dead run, says what production is, and carries on.
    const backup = await s.cli('backup');
    expect(backup.exitCode, backup.stdout + backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(new RegExp(`run ${killed.runId} \\(upgrade, .*killed during migrate; .*production is at revision 003_add_order_status .*verified equal to before that run`));
    expect(journals(s).find((journal) => journal.runId === killed.runId)?.details.recovery?.verdict).toBe('as-before');

    addRevision(s.project, '004_slow', '003_add_order_status', sql('SELECT 1'), 'pass');
    const next = await s.cli('upgrade', '--yes');
    expect(next.exitCode, next.stdout + next.stderr).toBe(0);
    expect(await revision(s)).toBe('004_slow');
  });

  it('during a migration waiting on a psql it started: the Alembic session, its request child and that psql all die with it, and so does the psql backend', async () => {
    const s = (current = await scenario());
    // The request child leads a process group of its own, outside the session's supervised one. (Online only: the offline preview runs upgrade() too.)
    addRevision(s.project, '004_psql', '003_add_order_status', 'import os, subprocess; from alembic import context; context.is_offline_mode() or subprocess.run(["psql", os.environ["DATABASE_URL"], "-c", "SELECT pg_sleep(300)"])', 'pass');
    await killMidStep(s, 'upgrade', '--yes');
    expect(await revision(s)).toBe('003_add_order_status');
  });

  it('during the rollback: the downgrade dies with it, and the next run says production is half-done (exit 7) instead of "nothing to do"', async () => {
    const s = (current = await scenario());
    // 004 applies (one transaction per migration), 005 fails in production only: the rollback downgrades 004, slowly.
    addRevision(s.project, '004_ok', '003_add_order_status', sql('CREATE TABLE t004 (id int)'), `${sql(`SELECT pg_sleep(CASE WHEN ${IN_PRODUCTION} THEN 300 ELSE 0 END)`)}\n    ${sql('DROP TABLE t004')}`);
    addRevision(s.project, '005_fails', '004_ok', sql(`SELECT 1 / (CASE WHEN ${IN_PRODUCTION} THEN 0 ELSE 1 END)`), 'pass');
    const killed = await killMidStep(s, 'upgrade', '--yes');
    expect(journals(s).find((journal) => journal.runId === killed.runId)?.status).toBe('running');
    await sleep(1_000);
    expect(await revision(s)).toBe('004_ok');

    // A dry run writes nothing, recovers nothing, but does not hide the dead run behind "nothing to do".
    const dry = await s.cli('upgrade', '004_ok', '--dry-run');
    expect(dry.exitCode, dry.stdout + dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`WARNING: run ${killed.runId} \\(upgrade, .*died without finishing`));
    expect(journals(s).find((journal) => journal.runId === killed.runId)?.status).toBe('running');

    const next = await s.cli('upgrade', '004_ok', '--yes');
    expect(next.exitCode, next.stdout + next.stderr).toBe(7);
    expect(next.stdout + next.stderr).not.toMatch(/nothing to do/);
    expect(next.stderr).toMatch(/production is at revision 004_ok .*NOT as before that run \(revision 003_add_order_status/);
    expect(next.stderr).toMatch(/orchestrate restore \S+ --into \S+ --allow-source --yes/);
    expect(await revision(s)).toBe('004_ok');
    const report = latestReport(s.project);
    expect(report.exitCode).toBe(7);
    expect(report.revisionAfter).toBe('004_ok');
    const recovery = journals(s).find((journal) => journal.runId === killed.runId)?.details.recovery;
    expect(recovery).toMatchObject({ verdict: 'changed', revision: '004_ok' });
    expect(recovery?.acknowledgedBy).toBeDefined();

    // Reported once: a person now decides, and the next command is carried out.
    const after = await s.cli('upgrade', '004_ok', '--yes');
    expect(after.exitCode, after.stdout + after.stderr).toBe(0);
    expect(after.stdout + after.stderr).toMatch(/nothing to do/);
    expect(await revision(s)).toBe('004_ok');
  });

  it('the daemon at start recovers a killed run: journal crashed, leftovers gone, production state logged', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_slow', '003_add_order_status', sql(`SELECT pg_sleep(CASE WHEN ${IN_PRODUCTION} THEN 0 ELSE 300 END)`), 'pass');
    const killed = await killMidStep(s, 'upgrade', '--yes');
    expect(await scratchDatabases(s.db.name)).toHaveLength(1);

    const daemon = await inProcessDaemon(s.project.dir, s.db.url);
    try {
      const recovered = journals(s).find((journal) => journal.runId === killed.runId);
      expect(recovered?.status).toBe('crashed');
      expect(recovered?.details.recovery).toMatchObject({ verdict: 'as-before', revision: '003_add_order_status', droppedDatabases: [`${s.db.name}_rehearsal_${killed.runId}`] });
      expect(await scratchDatabases(s.db.name)).toEqual([]);
      expect(daemon.lines().some((line) => line.crashedRun === killed.runId && String(line.msg).includes('production is at revision 003_add_order_status'))).toBe(true);
    } finally {
      await daemon.daemon.stop();
    }
  });

  it("stops a dead run's backends by application_name prefix (the rehearsal's, the lock's), where the server did not", async () => {
    const s = (current = await scenario());
    const runId = 'deadbeef';
    const applicationName = `orchestrate/${runId}`;
    // A dead run on an old server (no client_connection_check_interval): its rehearsal statement runs on.
    const leftover = new pg.Client({ connectionString: s.db.url, application_name: `${applicationName}/rehearsal` });
    await leftover.connect();
    leftover.on('error', () => undefined);
    const leftoverPid = ((await leftover.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number }).pid;
    const sleeping = leftover.query('SELECT pg_sleep(300)').catch((error: unknown) => error);
    // Its lock session, idle: a backend whose client is gone but whose socket the server has not noticed closed.
    const lockSession = new pg.Client({ connectionString: s.db.url, application_name: `${applicationName}/lock` });
    await lockSession.connect();
    lockSession.on('error', () => undefined);
    await writeDeadRunJournal(s, runId, 'rehearsal');
    const state = await databaseState(s.db.url);

    const backup = await s.cli('backup');
    expect(backup.exitCode, backup.stdout + backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(/run deadbeef \(upgrade, .*killed during rehearsal; stopped 2 leftover backends; it had not changed production/);
    expect(await sleeping).toBeInstanceOf(Error);
    expect(await backendsOf(applicationName)).toEqual([]);
    const recovery = journals(s).find((journal) => journal.runId === runId)?.details.recovery as { stoppedBackends: { cancelled: number[]; terminated: number[] } } | undefined;
    expect([...(recovery?.stoppedBackends.cancelled ?? []), ...(recovery?.stoppedBackends.terminated ?? [])]).toContain(leftoverPid);
    await leftover.end().catch(() => undefined);
    await lockSession.end().catch(() => undefined);
    await expectUnchanged(s.db.url, state);
  });

  it("drops the throwaway proof database of a run killed during the tool-target step", async () => {
    const s = (current = await scenario());
    const runId = 'feedf00d';
    const proofDatabase = `${s.db.name}_proof_${runId}`;
    await withAdmin((client) => client.query(`CREATE DATABASE "${proofDatabase}"`));
    await writeDeadRunJournal(s, runId, 'tool target');
    const state = await databaseState(s.db.url);

    const backup = await s.cli('backup');
    expect(backup.exitCode, backup.stdout + backup.stderr).toBe(0);
    expect(await scratchDatabases(s.db.name)).toEqual([]);
    expect(journals(s).find((journal) => journal.runId === runId)?.details.recovery).toMatchObject({ droppedDatabases: [proofDatabase] });
    await expectUnchanged(s.db.url, state);
  });
});

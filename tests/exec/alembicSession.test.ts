import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { alembicCurrent, alembicUpgrade, type AlembicInvocation } from '../../src/exec/alembic.js';
import { alembicGraph } from '../../src/exec/alembicScript.js';
import { alembicSession, closeAlembicSessions } from '../../src/exec/alembicSession.js';
import { REPO_ROOT } from '../harness/cli.js';
import { withAdmin } from '../harness/db.js';
import { processesWithEnvironment } from '../harness/procwatch.js';
import { addRevision, scenario, type Scenario } from '../pipeline/helpers.js';

/**
 * The Alembic session: one interpreter per project that forks a child per request. What it must keep
 * from a process per call: one start per run, timeouts that kill only the request, answers that
 * nothing printed can fake, and no database session outliving its request.
 */
let current: Scenario | undefined;
afterEach(async () => {
  await closeAlembicSessions();
  await current?.db.drop();
  current = undefined;
});

function venvPython(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'alembic'))) return path.join(dir, 'python');
  }
  throw new Error('alembic is not on PATH');
}

/** A `python` that appends a line to starts.log at each start, then runs the project's interpreter. */
function countingPython(s: Scenario): { file: string; starts: () => number } {
  const file = path.join(s.project.dir, 'python');
  const log = path.join(s.project.dir, 'starts.log');
  writeFileSync(file, `#!/bin/sh\necho start >> ${log}\nexec ${venvPython()} "$@"\n`);
  chmodSync(file, 0o755);
  return { file, starts: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').length : 0) };
}

function invocationOf(s: Scenario, executable: readonly string[] = ['alembic']): AlembicInvocation {
  return { executable, cwd: s.project.migrationsDir, urlEnv: 'DATABASE_URL' };
}

const session = (applicationName: string, extra: { timeoutMs?: number; connectionCheckIntervalMs?: number } = {}) => ({ applicationName, ...extra });

async function revisionOf(s: Scenario): Promise<string | undefined> {
  return ((await s.db.query('SELECT version_num FROM alembic_version')) as { version_num: string }[])[0]?.version_num;
}

async function backendsNamed(applicationName: string): Promise<number> {
  return withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [applicationName])).rowCount ?? 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Python that writes the request child's pid where `childPid` reads it. */
const writePid = (s: Scenario) => `open(${JSON.stringify(path.join(s.project.dir, 'child.pid'))}, "w").write(str(__import__("os").getpid()))`;
const childPid = (s: Scenario) => Number(readFileSync(path.join(s.project.dir, 'child.pid'), 'utf8'));

/** /proc/PID/stat's state and parent pid; undefined once the process is gone (or a zombie, which holds nothing). */
function processState(pid: number): { parent: number } | undefined {
  try {
    const [state, parent] = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return state === 'Z' ? undefined : { parent: Number(parent) };
  } catch {
    return undefined;
  }
}

/**
 * Processes a request started: they got the child's environment, which names the scenario's database
 * (the forked child itself shows its server's environment in /proc), after up to `withinMs`.
 */
async function processesLeft(s: Scenario, withinMs: number): Promise<string[]> {
  const deadline = Date.now() + withinMs;
  while (processesWithEnvironment(s.db.name).length > 0 && Date.now() < deadline) await sleep(50);
  return processesWithEnvironment(s.db.name);
}

/** An upgrade body that starts psql on the migration's own URL and environment, sleeping in the database, and waits for it. */
const psqlSleep = (s: Scenario) => `${writePid(s)}; import os, subprocess; subprocess.run(["psql", os.environ["DATABASE_URL"], "-c", "SELECT pg_sleep(300)"])`;

async function sleepingBackend(applicationName: string): Promise<boolean> {
  return withAdmin(async (client) => ((await client.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE '%pg_sleep%' AND state = 'active'`, [applicationName])).rowCount ?? 0) > 0);
}

describe('one Alembic interpreter per run', { timeout: 180_000 }, () => {
  it('a whole upgrade --yes starts Python once, and migrates', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_add_nickname', '003_add_order_status', 'op.execute("ALTER TABLE users ADD COLUMN nickname text")', 'op.execute("ALTER TABLE users DROP COLUMN nickname")');
    const python = countingPython(s);
    const configFile = path.join(s.project.dir, 'orchestrate.config.json');
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { migrator: Record<string, unknown> };
    writeFileSync(configFile, JSON.stringify({ ...config, migrator: { ...config.migrator, executable: [python.file, '-m', 'alembic'] } }));
    const result = await s.cli('upgrade', '--yes');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await s.db.query('SELECT version_num FROM alembic_version')).toEqual([{ version_num: '004_add_nickname' }]);
    // history, order, render, every current and both upgrades: one interpreter.
    expect(python.starts()).toBe(1);
  });

  it('a timeout kills the request, and the same session answers the next one', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_slow', '003_add_order_status', 'import time; time.sleep(60)', 'pass');
    const invocation = invocationOf(s);
    const db = parseDatabaseUrl(s.db.url);
    const server = await alembicSession(invocation);
    expect(server).toBeDefined();
    const started = Date.now();
    const slow = await alembicUpgrade(invocation, db, 'head', session('orchestrate/session-test', { timeoutMs: 2_000 }));
    expect(slow).toMatchObject({ ok: false, timedOut: true, signal: 'SIGTERM' });
    expect(Date.now() - started).toBeLessThan(15_000);
    const after = await alembicCurrent(invocation, db, session('orchestrate/session-test'));
    expect(after.ok, after.stderr).toBe(true);
    expect(after.stdout).toContain('003_add_order_status');
    expect(await alembicSession(invocation)).toBe(server);
  });

  it('a cancel stops the request it was given, and only that one', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_slow', '003_add_order_status', 'import time; time.sleep(60)', 'pass');
    const invocation = invocationOf(s);
    const db = parseDatabaseUrl(s.db.url);
    const cancel = new AbortController();
    const slow = alembicUpgrade(invocation, db, 'head', { applicationName: 'orchestrate/cancelled', cancelSignal: cancel.signal });
    const [answered] = await Promise.all([alembicCurrent(invocation, db, session('orchestrate/alongside')), new Promise((resolve) => setTimeout(resolve, 1_500))]);
    cancel.abort();
    expect(await slow).toMatchObject({ ok: false, cancelled: true, timedOut: false, signal: 'SIGTERM' });
    expect(answered.ok, answered.stderr).toBe(true);
    expect(answered.stdout).toContain('003_add_order_status');
  });

  it('what a revision prints to stdout, even a JSON answer, is not read as the answer', async () => {
    const s = (current = await scenario());
    const fake = JSON.stringify({ heads: ['fake'], revisions: [] });
    addRevision(s.project, '004_loud', '003_add_order_status', `print(${JSON.stringify(fake)})`, 'pass');
    const file = path.join(s.project.migrationsDir, 'migrations', 'versions', '004_loud.py');
    writeFileSync(file, `import sys\nprint(${JSON.stringify(fake)})\nsys.__stdout__.write(${JSON.stringify(`${fake}\n`)})\n${readFileSync(file, 'utf8')}`);
    const graph = await alembicGraph(invocationOf(s));
    expect(graph.heads).toEqual(['004_loud']);
    expect(graph.revisions.map((revision) => revision.id)).toContain('003_add_order_status');
  });

  it('an env.py that keeps a pooled engine leaves no backend once its request is answered', async () => {
    const s = (current = await scenario());
    const envFile = path.join(s.project.migrationsDir, 'migrations', 'env.py');
    // An engine with a pool, kept where an interpreter that lives on would keep it: its connection stays open after the run.
    const pooled = readFileSync(envFile, 'utf8')
      .replace('poolclass=pool.NullPool', 'poolclass=pool.QueuePool')
      .replace('    with connectable.connect() as connection:', '    import alembic\n    alembic.kept_engine = connectable\n    with connectable.connect() as connection:');
    expect(pooled).toContain('kept_engine');
    writeFileSync(envFile, pooled);
    const invocation = invocationOf(s);
    const applicationName = 'orchestrate/pooled-engine';
    const run = await alembicCurrent(invocation, parseDatabaseUrl(s.db.url), session(applicationName));
    expect(run.ok, run.stderr).toBe(true);
    expect(await alembicSession(invocation)).toBeDefined();
    // The backend notices its client is gone a moment after the child exits.
    const deadline = Date.now() + 5_000;
    while ((await backendsNamed(applicationName)) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await backendsNamed(applicationName)).toBe(0);
  });

  it('an executable that is not the alembic command line gets a process per call, as before', async () => {
    const s = (current = await scenario());
    const wrapper = path.join(s.project.dir, 'migrate');
    writeFileSync(wrapper, `#!/bin/sh\nexec alembic "$@"\n`);
    chmodSync(wrapper, 0o755);
    const invocation = invocationOf(s, [wrapper]);
    expect(await alembicSession(invocation)).toBeUndefined();
    const run = await alembicCurrent(invocation, parseDatabaseUrl(s.db.url), session('orchestrate/wrapper'));
    expect(run.ok, run.stderr).toBe(true);
    expect(run.stdout).toContain('003_add_order_status');
  });
});

describe('what a request starts ends with it, as with a process group per call', { timeout: 180_000 }, () => {
  it('a subprocess a migration leaves running is killed when the request ends', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_leaves_sleep', '003_add_order_status', 'import subprocess; subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)', 'pass');
    const invocation = invocationOf(s);
    expect(await alembicSession(invocation)).toBeDefined();
    const run = await alembicUpgrade(invocation, parseDatabaseUrl(s.db.url), 'head', session('orchestrate/leaves-sleep'));
    expect(run.ok, run.stderr).toBe(true);
    // SIGKILL was sent before the answer; the kernel needs a moment to finish the process.
    expect(await processesLeft(s, 500)).toEqual([]);
  });

  it('a timeout stops the whole group: the child, its psql, and psql\'s backend', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_psql_sleeps', '003_add_order_status', psqlSleep(s), 'pass');
    const invocation = invocationOf(s);
    expect(await alembicSession(invocation)).toBeDefined();
    const applicationName = 'orchestrate/psql-timeout';
    let sawSleep = false;
    const run = alembicUpgrade(invocation, parseDatabaseUrl(s.db.url), 'head', session(applicationName, { timeoutMs: 6_000, connectionCheckIntervalMs: 500 }));
    const ended = run.then(() => true);
    while (!sawSleep && !(await Promise.race([ended, sleep(100).then(() => false)]))) sawSleep = await sleepingBackend(applicationName);
    expect(sawSleep).toBe(true);
    expect(await run).toMatchObject({ ok: false, timedOut: true });
    expect(processState(childPid(s))).toBeUndefined();
    expect(await processesLeft(s, 1_000)).toEqual([]);
    // The server ends a backend whose client died within client_connection_check_interval.
    const deadline = Date.now() + 2_000;
    while ((await backendsNamed(applicationName)) > 0 && Date.now() < deadline) await sleep(100);
    expect(await backendsNamed(applicationName)).toBe(0);
    expect(await revisionOf(s)).toBe('003_add_order_status');
  });

  it('an interpreter killed outright takes its request child along (parent-death signal)', async () => {
    const s = (current = await scenario());
    addRevision(s.project, '004_slow', '003_add_order_status', `${writePid(s)}; import time; time.sleep(300)`, 'pass');
    const invocation = invocationOf(s);
    expect(await alembicSession(invocation)).toBeDefined();
    const run = alembicUpgrade(invocation, parseDatabaseUrl(s.db.url), 'head', session('orchestrate/server-killed')).then(
      () => 'answered',
      (error: unknown) => String(error),
    );
    const pidFile = path.join(s.project.dir, 'child.pid');
    while (!existsSync(pidFile) || !readFileSync(pidFile, 'utf8')) await sleep(50);
    const child = childPid(s);
    const server = processState(child)?.parent;
    if (!server) throw new Error(`request child ${child} has no parent`);
    process.kill(server, 'SIGKILL');
    expect(await run).toMatch(/the alembic session ended/);
    const deadline = Date.now() + 1_000;
    while (processState(child) && Date.now() < deadline) await sleep(50);
    expect(processState(child)).toBeUndefined();
  });

  it('orchestrate exiting during a request (its exit hook SIGKILLs the server) leaves neither the child nor what it started', async () => {
    const s = (current = await scenario());
    const started = 'import subprocess, time; subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)';
    addRevision(s.project, '004_slow', '003_add_order_status', `${started}; ${writePid(s)}; time.sleep(300)`, 'pass');
    const pidFile = path.join(s.project.dir, 'child.pid');
    // The built orchestrate, as the CLI runs it: a request in flight when the process exits.
    const script = `
      import { existsSync } from 'node:fs';
      import { alembicUpgrade } from ${JSON.stringify(path.join(REPO_ROOT, 'dist', 'exec', 'alembic.js'))};
      import { parseDatabaseUrl } from ${JSON.stringify(path.join(REPO_ROOT, 'dist', 'db', 'target.js'))};
      void alembicUpgrade(${JSON.stringify(invocationOf(s))}, parseDatabaseUrl(${JSON.stringify(s.db.url)}), 'head', { applicationName: 'orchestrate/exits' });
      setInterval(() => { if (existsSync(${JSON.stringify(pidFile)})) process.exit(3); }, 20);
    `;
    const exited = await execa(process.execPath, ['--input-type=module', '-e', script], { reject: false, timeout: 60_000 });
    expect(exited.exitCode, exited.stderr).toBe(3);
    expect(await processesLeft(s, 1_000)).toEqual([]);
    expect(processState(childPid(s))).toBeUndefined();
  });
});

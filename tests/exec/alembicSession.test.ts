import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { alembicCurrent, alembicUpgrade, type AlembicInvocation } from '../../src/exec/alembic.js';
import { alembicGraph } from '../../src/exec/alembicScript.js';
import { alembicSession, closeAlembicSessions } from '../../src/exec/alembicSession.js';
import { withAdmin } from '../harness/db.js';
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

const session = (applicationName: string, extra: { timeoutMs?: number } = {}) => ({ applicationName, ...extra });

async function backendsNamed(applicationName: string): Promise<number> {
  return withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [applicationName])).rowCount ?? 0);
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

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject, type TestProject } from '../harness/project.js';
import { httpGet, listeningUrl, parsePrometheus, sigterm } from './support.js';

const TOKEN = 'daemon-test-token-5a1d';

describe('orchestrate daemon as a real process', () => {
  let db: TestDatabase;
  let project: TestProject;
  let daemon: ReturnType<typeof startCli>;
  let url: string;
  const get = (path: string, token = TOKEN) => httpGet(`${url}${path}`, token ? { authorization: `Bearer ${token}` } : {});

  beforeAll(async () => {
    db = await createTestDatabase('dend');
    project = makeProject('alembic-project', { daemon: { port: 0, jobs: { pendingCheck: { runOnStart: true } } } });
    daemon = startCli(['daemon'], { cwd: project.dir, env: { DATABASE_URL: db.url, ORCHESTRATE_DAEMON_TOKEN: TOKEN } });
    url = await listeningUrl(daemon);
  });
  afterAll(async () => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    await db.drop();
  });

  it('answers /healthz 200 while the database answers', async () => {
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true, reasons: [], database: { ok: true } });
  });

  it('wants the bearer token, and knows only its endpoints', async () => {
    expect((await get('/healthz', '')).status).toBe(401);
    expect((await get('/metrics', 'wrong-token-of-some-length')).status).toBe(401);
    expect((await get('/nope', 'wrong')).status).toBe(401);
    const missing = await get('/nope');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ endpoints: ['/healthz', '/metrics', '/runs'] });
  });

  it('reflects a run finished and a backup taken while it runs, in /metrics and /runs', async () => {
    const before = parsePrometheus((await get('/metrics')).body);
    expect(before.get('orchestrate_backups')).toBe(0);
    expect([...before.keys()].some((key) => key.startsWith('orchestrate_runs_total'))).toBe(false);
    expect(before.get('orchestrate_backup_newest_verified_age_seconds')).toBe(Number.POSITIVE_INFINITY);

    // A real upgrade in the same project: it takes (and verifies) a backup and appends its audit line.
    const upgrade = await runCli(['upgrade', '--yes'], { cwd: project.dir, env: { DATABASE_URL: db.url } });
    expect(upgrade.exitCode).toBe(0);

    const after = parsePrometheus((await get('/metrics')).body);
    expect(after.get('orchestrate_runs_total{command="upgrade",outcome="succeeded"}')).toBe(1);
    expect(after.get('orchestrate_last_run_exit_code{command="upgrade"}')).toBe(0);
    expect(after.get('orchestrate_last_run_duration_seconds{command="upgrade"}')).toBeGreaterThan(0);
    expect(Math.abs((after.get('orchestrate_last_run_timestamp_seconds{command="upgrade"}') ?? 0) - Date.now() / 1000)).toBeLessThan(120);
    expect(after.get('orchestrate_backups')).toBe(1);
    expect(after.get('orchestrate_backups_bytes')).toBeGreaterThan(0);
    expect(after.get('orchestrate_backup_newest_verified_age_seconds')).toBeLessThan(120);
    // At least its run on start: a test that spans a quarter hour also sees its scheduled run.
    expect(after.get('orchestrate_job_runs_total{daemon_job="pendingCheck",outcome="succeeded"}')).toBeGreaterThanOrEqual(1);
    expect(after.get('process_resident_memory_bytes')).toBeGreaterThan(0);

    const runs = JSON.parse((await get('/runs')).body) as { running: unknown[]; recent: { command: string; outcome: string; exitCode: number; revisionAfter: string }[] };
    expect(runs.running).toEqual([]);
    expect(runs.recent[0]).toMatchObject({ command: 'upgrade', outcome: 'succeeded', exitCode: 0, revisionAfter: '003_add_order_status' });
  });

  it('answers 503 with the reason once the database is gone, and exits 0 on SIGTERM', async () => {
    await db.drop();
    const health = await get('/healthz');
    expect(health.status).toBe(503);
    const body = JSON.parse(health.body) as { ok: boolean; reasons: string[]; database: { ok: boolean; error: string } };
    expect(body.ok).toBe(false);
    expect(body.database.ok).toBe(false);
    expect(body.reasons.join('\n')).toMatch(new RegExp(`database .*${db.name}.* unreachable: .*does not exist`));

    sigterm(daemon);
    const result = await daemon;
    expect(result.exitCode).toBe(0);
    expect(String(result.stdout)).toContain('daemon stopped on SIGTERM');
    expect(String(result.all)).not.toContain(TOKEN);
  });
});

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/report/audit.js';
import { REPO_ROOT } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject } from '../harness/project.js';
import { inProcessDaemon, type InProcessDaemon } from './support.js';

const RULES_DIR = path.join(REPO_ROOT, 'docker', 'prometheus');
const RULES = path.join(RULES_DIR, 'orchestrate-alerts.yml');
const DASHBOARD = path.join(REPO_ROOT, 'docker', 'grafana', 'orchestrate-dashboard.json');

// .ci/run installs promtool (Debian's prometheus package), so CI always runs these; a developer
// machine without it skips them, and says so.
const promtool = await execa('promtool', ['--version'], { reject: false }).then(
  (result) => result.exitCode === 0,
  () => false,
);
if (!promtool) console.warn('promtool not found: the Prometheus rule and exposition checks are SKIPPED (apt-get install prometheus, or run .ci/run)');

/** Every metric name a PromQL expression mentions: what is left once selectors, ranges, groupings, functions and numbers are gone. */
function metricNames(expr: string): string[] {
  const bare = expr.replace(/\{[^}]*\}|\[[^\]]*\]|\b(by|without)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((match) => match[1] ?? '').filter((name) => !['or', 'and', 'unless'].includes(name));
}

describe.skipIf(!promtool)('Prometheus rules and exposition, checked by the real promtool', () => {
  let db: TestDatabase;
  let running: InProcessDaemon;
  let scrape: string;

  beforeAll(async () => {
    db = await createTestDatabase('dprom');
    const project = makeProject('alembic-project', { daemon: { port: 0 } });
    running = await inProcessDaemon(project.dir, db.url);
    // Fill every family: a pending check, a retention run (failed-run databases), finished runs.
    await running.tick('pendingCheck');
    await running.tick('retention');
    const now = new Date().toISOString();
    appendAudit(running.settings.reportDir, { runId: 'prom0001', command: 'upgrade', outcome: 'rolled-back', exitCode: 6, startedAt: now, finishedAt: now, durationMs: 1234, env: 'development', database: db.name, user: 'u', host: 'h' });
    scrape = (await running.get('/metrics')).body;
  });
  afterAll(async () => {
    await running?.daemon.stop();
    await db?.drop();
  });

  it('promtool check rules accepts the alert rules', async () => {
    const result = await execa('promtool', ['check', 'rules', RULES], { reject: false });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('promtool test rules: each alert fires on what should fire it, and only then', async () => {
    const result = await execa('promtool', ['test', 'rules', 'orchestrate-alerts.test.yml'], { cwd: RULES_DIR, reject: false });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it('promtool check metrics accepts a live /metrics scrape', async () => {
    expect(scrape).toContain('orchestrate_migrations_pending{');
    const result = await execa('promtool', ['check', 'metrics'], { input: scrape, reject: false });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it('the rules and the dashboard only name metrics the daemon exposes', () => {
    const exposed = new Set([...scrape.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]));
    // `up` is Prometheus's own, per scrape target.
    exposed.add('up');
    const ruleExprs = [...readFileSync(RULES, 'utf8').matchAll(/^\s+expr: (.+)$/gm)].map((match) => match[1] ?? '');
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const dashboardExprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
    expect(ruleExprs.length).toBeGreaterThanOrEqual(5);
    expect(dashboardExprs.length).toBeGreaterThanOrEqual(10);
    const named = [...ruleExprs, ...dashboardExprs].flatMap(metricNames);
    expect(named).toContain('orchestrate_backup_newest_verified_age_seconds');
    expect(named.filter((name) => !exposed.has(name))).toEqual([]);
  });
});

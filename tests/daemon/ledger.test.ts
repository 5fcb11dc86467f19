import { appendFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { sweepOldFiles } from '../../src/daemon/jobs/housekeeping.js';
import { createRunLog } from '../../src/log/logger.js';
import { writeJournal } from '../../src/pipeline/journal.js';
import { appendAudit, auditPath, auditSegments, readAudit, rotateAudit, type AuditEntry } from '../../src/report/audit.js';
import { AuditIndex } from '../../src/report/auditIndex.js';
import { REPO_ROOT } from '../harness/cli.js';
import { inProcessDaemon, parsePrometheus, type InProcessDaemon } from './support.js';

function entry(runId: string, command: string, outcome: string, exitCode: number, finishedAt = new Date().toISOString()): AuditEntry {
  return { runId, command, outcome, exitCode, startedAt: finishedAt, finishedAt, durationMs: 1500, env: 'development', database: 'app', user: 'ops', host: 'h' };
}

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'orchestrate-ledger-'));
}

/** The independent oracle: every run id in every ledger file, read whole. */
function allRunIds(reportDir: string): string[] {
  return readAudit(reportDir).map((line) => line.runId);
}

let running: InProcessDaemon | undefined;
afterEach(async () => {
  await running?.daemon.stop();
  running = undefined;
});

describe('the audit index', () => {
  it('reads only what was appended, waits for a torn line to be finished, and follows a rotation', () => {
    const dir = tempDir();
    const index = new AuditIndex(dir, 3);
    index.refresh();
    expect(index.counts()).toEqual([]);

    for (let run = 0; run < 5; run++) appendAudit(dir, entry(`r${run}`, 'upgrade', 'succeeded', 0));
    // Half a line, as a reader may see an append in progress: not counted until it is whole.
    const torn = JSON.stringify(entry('r5', 'upgrade', 'rolled-back', 6));
    appendFileSync(auditPath(dir), torn.slice(0, 40));
    index.refresh();
    expect(index.counts()).toEqual([{ command: 'upgrade', outcome: 'succeeded', count: 5 }]);
    appendFileSync(auditPath(dir), `${torn.slice(40)}\n`);
    index.refresh();
    expect(index.latest().get('upgrade')).toMatchObject({ exitCode: 6 });

    expect(rotateAudit(dir, 1_000_000, '2026-11-30T00-00-00Z-aaaa0000')).toBeUndefined();
    const segment = rotateAudit(dir, 1, '2026-11-30T00-00-00Z-aaaa0001');
    expect(segment).toBeDefined();
    // A line a slow appender opened before the rename lands in the segment, after the index moved on.
    appendAudit(dir, entry('r6', 'rollback', 'restored', 0));
    index.refresh();
    appendFileSync(segment ?? '', `${JSON.stringify(entry('r7', 'upgrade', 'succeeded', 0))}\n`);
    appendAudit(dir, entry('r8', 'downgrade', 'failed', 7));
    index.refresh();

    expect(auditSegments(dir)).toEqual([segment]);
    const oracle = readAudit(dir);
    expect(oracle.map((line) => line.runId).sort()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8']);
    const counted = Object.fromEntries(index.counts().map(({ command, outcome, count }) => [`${command}/${outcome}`, count]));
    expect(counted).toEqual({ 'upgrade/succeeded': 6, 'upgrade/rolled-back': 1, 'rollback/restored': 1, 'downgrade/failed': 1 });
    expect(index.recent(10).map((line) => line.runId)).toEqual(['r8', 'r7', 'r6']);
    expect(index.latest().get('downgrade')).toMatchObject({ exitCode: 7 });

    // A fresh index (a restarted daemon) sees the same ledger: segments first, then audit.jsonl.
    const fresh = new AuditIndex(dir, 100);
    fresh.refresh();
    expect(Object.fromEntries(fresh.counts().map(({ command, outcome, count }) => [`${command}/${outcome}`, count]))).toEqual(counted);
    // It keeps only the newest entries of the ledger it reads at start, in ledger order (segment, then audit.jsonl).
    const small = new AuditIndex(dir, 2);
    small.refresh();
    expect(small.recent(2).map((line) => line.runId)).toEqual(['r8', 'r6']);
    expect(small.counts()).toEqual(fresh.counts());
  });

  it('reads every segment when the ledger was rotated more than once between two refreshes', () => {
    const dir = tempDir();
    const index = new AuditIndex(dir, 10);
    appendAudit(dir, entry('t0', 'upgrade', 'succeeded', 0));
    index.refresh();
    appendAudit(dir, entry('t1', 'upgrade', 'succeeded', 0));
    rotateAudit(dir, 1, '2026-11-30T01-00-00Z-rot00001');
    appendAudit(dir, entry('t2', 'upgrade', 'succeeded', 0));
    rotateAudit(dir, 1, '2026-11-30T02-00-00Z-rot00002');
    index.refresh();
    // Rotated again while no audit.jsonl was being read.
    appendAudit(dir, entry('t3', 'upgrade', 'succeeded', 0));
    rotateAudit(dir, 1, '2026-11-30T03-00-00Z-rot00003');
    index.refresh();
    appendAudit(dir, entry('t4', 'upgrade', 'succeeded', 0));
    index.refresh();
    expect(index.recent(10).map((line) => line.runId)).toEqual(['t4', 't3', 't2', 't1', 't0']);
    expect(index.counts()).toEqual([{ command: 'upgrade', outcome: 'succeeded', count: 5 }]);
  });

  it('loses no line while other processes append and the ledger is rotated under them', async () => {
    const dir = tempDir();
    const writers = 4;
    const linesEach = 400;
    const module = path.join(REPO_ROOT, 'dist', 'report', 'audit.js');
    const script = `
      const { appendAudit } = await import(${JSON.stringify(module)});
      const [dir, writer, count] = process.argv.slice(1);
      for (let line = 0; line < Number(count); line++) {
        // A pause now and then, so the writers are still at it while the test rotates, however busy the machine.
        if (line % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        const now = new Date().toISOString();
        appendAudit(dir, { runId: 'w' + writer + '-' + line, command: 'upgrade', outcome: 'succeeded', exitCode: 0, startedAt: now, finishedAt: now, durationMs: 1, env: 'development', database: 'app', user: 'u', host: 'h' });
      }`;
    const children = Array.from({ length: writers }, (_, writer) => execa(process.execPath, ['--input-type=module', '-e', script, dir, String(writer), String(linesEach)]));
    const index = new AuditIndex(dir, 50);
    let rotations = 0;
    let done = false;
    const all = Promise.all(children).finally(() => (done = true));
    while (!done) {
      index.refresh();
      // Stamps that sort in rotation order, as housekeeping's (a time, then its run id) do.
      const stamp = `2026-11-30T${String(Math.floor(rotations / 3600)).padStart(2, '0')}-${String(Math.floor(rotations / 60) % 60).padStart(2, '0')}-${String(rotations % 60).padStart(2, '0')}Z-r${rotations}`;
      if (rotateAudit(dir, 500, stamp)) rotations += 1;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await all;
    index.refresh();
    // One more refresh after a while: a line written through a pre-rename descriptor is picked up too.
    index.refresh();

    expect(rotations).toBeGreaterThanOrEqual(3);
    const ids = allRunIds(dir);
    expect(ids).toHaveLength(writers * linesEach);
    expect(new Set(ids).size).toBe(writers * linesEach);
    expect(index.counts()).toEqual([{ command: 'upgrade', outcome: 'succeeded', count: writers * linesEach }]);
  });
});

describe('housekeeping rotation', () => {
  it('rotates the ledger and the daemon log without losing a line, and never sweeps a segment', async () => {
    const dir = tempDir();
    const logDir = path.join(dir, 'logs');
    const reportDir = path.join(dir, 'reports');
    for (let run = 0; run < 20; run++) appendAudit(reportDir, entry(`a${run}`, 'upgrade', 'succeeded', 0));
    const log = createRunLog({ logDir, runId: 'daem0001', command: 'daemon', consoleLevel: 'silent' });
    for (let line = 0; line < 20; line++) log.logger.info({ line }, 'before');

    const context = { runId: 'hk000001', applicationName: 'orchestrate/hk000001', now: new Date(), logger: log.logger, signal: new AbortController().signal };
    const options = { logDir, reportDir, olderThanDays: 1, keep: [log.file], rotateBytes: 1_000, ownLog: { file: log.file, reopen: log.reopen } };
    const result = await sweepOldFiles(options, context);
    for (let line = 20; line < 40; line++) log.logger.info({ line }, 'after');
    appendAudit(reportDir, entry('a20', 'upgrade', 'succeeded', 0));

    expect(result.details?.rotated).toHaveLength(2);
    const segments = auditSegments(reportDir);
    expect(segments).toHaveLength(1);
    expect(allRunIds(reportDir)).toEqual(Array.from({ length: 21 }, (_, run) => `a${run}`));

    const logLines = readdirSync(logDir)
      .filter((name) => name.endsWith('.jsonl'))
      .flatMap((name) => readFileSync(path.join(logDir, name), 'utf8').split('\n').filter(Boolean))
      .map((line) => JSON.parse(line) as { line?: number });
    const numbered = logLines.flatMap((line) => (line.line === undefined ? [] : [line.line])).sort((a, b) => a - b);
    expect(numbered).toEqual(Array.from({ length: 40 }, (_, line) => line));
    expect(readFileSync(log.file, 'utf8')).toContain('"line":39');
    expect(readFileSync(log.file, 'utf8')).not.toContain('"line":0,');

    // Everything is older than 0 days now; the segment and the open log stay, the rotated log part goes.
    const later = { ...context, runId: 'hk000002', now: new Date(Date.now() + 60_000) };
    await sweepOldFiles({ ...options, olderThanDays: 0, rotateBytes: Number.MAX_SAFE_INTEGER }, later);
    expect(auditSegments(reportDir)).toEqual(segments);
    expect(readdirSync(logDir).sort()).toEqual([path.basename(log.file), 'archive'].sort());
  });

  it('the daemon serves /metrics and /runs from rotated segments and the live ledger alike', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'orchestrate.config.json'), JSON.stringify({ env: 'development', daemon: { port: 0 } }));
    const reportDir = path.join(dir, 'reports');
    for (let run = 0; run < 30; run++) appendAudit(reportDir, entry(`s${run}`, 'upgrade', 'succeeded', 0));
    rotateAudit(reportDir, 1, '2026-11-29T00-00-00Z-seg00001');
    running = await inProcessDaemon(dir, 'postgresql://nobody@127.0.0.1:1/none');
    appendAudit(reportDir, entry('live1', 'rollback', 'needs-human', 7));
    const metrics = parsePrometheus((await running.get('/metrics')).body);
    expect(metrics.get('orchestrate_runs_total{command="upgrade",outcome="succeeded"}')).toBe(30);
    expect(metrics.get('orchestrate_runs_total{command="rollback",outcome="needs-human"}')).toBe(1);
    expect(metrics.get('orchestrate_last_run_exit_code{command="rollback"}')).toBe(7);
    const runs = JSON.parse((await running.get('/runs?limit=3')).body) as { recent: { runId: string }[] };
    expect(runs.recent.map((run) => run.runId)).toEqual(['live1', 's29', 's28']);

    // Journals are re-read only when they change: a run seen running, then finished, is seen finished.
    const journal = { runId: 'live2', command: 'upgrade', status: 'running' as const, startedAt: new Date().toISOString(), applicationName: 'orchestrate/live2', steps: [], details: {} };
    writeJournal(reportDir, journal);
    const runningNow = async () => (JSON.parse((await running?.get('/runs'))?.body ?? '{}') as { running: { runId: string }[] }).running.map((run) => run.runId);
    expect(await runningNow()).toEqual(['live2']);
    expect(await runningNow()).toEqual(['live2']);
    writeJournal(reportDir, { ...journal, status: 'rolled-back', finishedAt: new Date().toISOString(), exitCode: 6 });
    expect(await runningNow()).toEqual([]);
  });
});

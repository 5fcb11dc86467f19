import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { backupsHeldByRuns, isOwnerAlive, journalOwner, parseJournal, readJournals, runsDirectory, writeJournal, type RunJournal } from '../../src/pipeline/journal.js';
import { appendAudit, auditPath, readAudit, type AuditEntry } from '../../src/report/audit.js';

function journal(runId: string, extra: Partial<RunJournal> = {}): RunJournal {
  return { runId, command: 'upgrade', status: 'running', startedAt: '2026-01-01T00:00:00.000Z', applicationName: `orchestrate/${runId}`, steps: [{ name: 'preflight', status: 'running' }], details: { database: 'app' }, ...extra };
}

describe('run journals read back through a schema', () => {
  it('accepts a journal as written, keeping fields it does not know; refuses a misspelt status or a missing field', () => {
    const written = { ...journal('aaaa0001'), addedLater: { x: 1 } };
    expect(parseJournal(JSON.stringify(written))).toEqual(written);
    expect(parseJournal(JSON.stringify({ ...written, status: 'runing' }))).toBeUndefined();
    expect(parseJournal(JSON.stringify({ ...written, steps: undefined }))).toBeUndefined();
    expect(parseJournal(JSON.stringify({ ...written, steps: [{ name: 'lock', status: 'maybe' }] }))).toBeUndefined();
    expect(parseJournal('{"runId": "aaaa0001", ')).toBeUndefined();
  });

  it('a journal that does not parse still holds the backup it names: prune keeps it', () => {
    const reportDir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-journal-'));
    writeJournal(reportDir, journal('aaaa0001', { status: 'succeeded', backupId: 'b-succeeded' }));
    writeJournal(reportDir, journal('bbbb0001', { status: 'rolled-back', backupId: 'b-rolled-back' }));
    mkdirSync(runsDirectory(reportDir), { recursive: true });
    writeFileSync(path.join(runsDirectory(reportDir), 'cccc0001.json'), JSON.stringify({ ...journal('cccc0001'), status: 42, backupId: 'b-unreadable' }));
    expect(readJournals(reportDir).map((entry) => entry.runId).sort()).toEqual(['aaaa0001', 'bbbb0001']);
    expect([...backupsHeldByRuns(reportDir).keys()].sort()).toEqual(['b-rolled-back', 'b-unreadable']);
  });

  it('tells a live writer from a dead one, and does not vouch for another machine', async () => {
    expect(isOwnerAlive(journal('aaaa0001', { details: { ...journalOwner() } }))).toBe(true);
    const dead = await execa(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    expect(isOwnerAlive(journal('aaaa0001', { details: { ...journalOwner(), pid: Number(dead.stdout) } }))).toBe(false);
    expect(isOwnerAlive(journal('aaaa0001', { details: { ...journalOwner(), host: 'elsewhere.example' } }))).toBe(false);
    // Our own pid recorded with another start time: the pid was reused by a different process.
    expect(isOwnerAlive(journal('aaaa0001', { details: { ...journalOwner(), pidStart: 1 } }))).toBe(false);
  });
});

describe('the audit ledger read back through a schema', () => {
  it('keeps whole entries and skips lines that are not one', () => {
    const reportDir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-audit-'));
    const entry: AuditEntry = { runId: 'aaaa0001', command: 'upgrade', outcome: 'succeeded', exitCode: 0, startedAt: 'a', finishedAt: 'b', durationMs: 1, env: 'production', database: 'app', user: 'u', host: 'h', revisionBefore: null, revisionAfter: '002' };
    appendAudit(reportDir, entry);
    writeFileSync(auditPath(reportDir), `${JSON.stringify({ ...entry, runId: 'bbbb0001', exitCode: 'zero' })}\n{"runId":"cccc0001"}\n{"torn\n`, { flag: 'a' });
    appendAudit(reportDir, { ...entry, runId: 'dddd0001' });
    expect(readAudit(reportDir).map((line) => line.runId)).toEqual(['aaaa0001', 'dddd0001']);
  });
});

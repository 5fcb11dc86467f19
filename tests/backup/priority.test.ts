import { readFileSync } from 'node:fs';
import os from 'node:os';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { withPriority } from '../../src/exec/priority.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { processesWithEnvironment } from '../harness/procwatch.js';
import { backupQueuedBehindLock, makeStore } from './helpers.js';

const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const db of databases) await db.drop();
});

/** The nice value of a process: field 19 of /proc/PID/stat, counted after the command name's closing parenthesis. */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[16]);
}

/**
 * Runs `orchestrate backup` with `config` with pg_dump queued behind a table lock; reads the waiting
 * pg_dump's nice value and ionice class; then lets it finish.
 */
async function dumpPriority(config: Record<string, unknown>): Promise<{ nice: number; ioClass: string; exitCode: number | undefined }> {
  const db = await createTestDatabase('bk_nice');
  databases.push(db);
  await db.query(`CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 100)`);
  const dir = makeStore(config);
  const { run, release } = await backupQueuedBehindLock(db, dir, 'items');
  try {
    // The process running pg_dump itself (nice and ionice exec it: there is no wrapper process left).
    const found = processesWithEnvironment(db.name).find((line) => line.includes('pg_dump') && line.includes('--format='));
    if (!found) throw new Error(`no pg_dump process found: ${processesWithEnvironment(db.name).join('; ')}`);
    const pid = Number(found.split(' ')[0]);
    const nice = niceOf(pid);
    const ioClass = (await execa('ionice', ['-p', String(pid)])).stdout.trim();
    await release();
    const result = await run;
    return { nice, ioClass, exitCode: result.exitCode };
  } finally {
    await release();
  }
}

describe('backup.niceness and backup.ioPriority', { timeout: 120_000 }, () => {
  it('pg_dump runs at the configured nice level and in the idle I/O class, and the backup completes', async () => {
    const seen = await dumpPriority({ backup: { niceness: 15, ioPriority: 'idle' } });
    expect(seen.nice).toBe(15);
    expect(seen.ioClass).toBe('idle');
    expect(seen.exitCode).toBe(0);
  });

  it('off by default: pg_dump runs at orchestrate\'s own priority', async () => {
    const seen = await dumpPriority({});
    expect(seen.nice).toBe(os.getPriority());
    expect(seen.ioClass).not.toBe('idle');
    expect(seen.exitCode).toBe(0);
  });

  it('wraps a tool found on PATH in nice and ionice, and leaves a missing tool for runProgram to report', () => {
    const wrapped = withPriority('sh', ['-c', 'true'], { niceness: 10, ioClass: 'best-effort' });
    expect(wrapped.program).toMatch(/\/nice$/);
    expect(wrapped.args).toEqual(['-n', '10', expect.stringMatching(/\/ionice$/), '-c', '2', '-n', '7', expect.stringMatching(/\/sh$/), '-c', 'true']);
    expect(withPriority('sh', ['x'], undefined)).toEqual({ program: 'sh', args: ['x'] });
    expect(withPriority('no-such-tool-here', ['x'], { niceness: 10, ioClass: 'idle' })).toEqual({ program: 'no-such-tool-here', args: ['x'] });
  });
});

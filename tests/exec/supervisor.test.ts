import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ToolError } from '../../src/errors.js';
import { runProgram } from '../../src/exec/process.js';
import { REPO_ROOT } from '../harness/cli.js';
import { processesWithEnvironment } from '../harness/procwatch.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` is true or `ms` pass. */
async function within(ms: number, check: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

// A tool that starts a child of its own and ignores SIGTERM: the worst case for a supervisor.
const STUBBORN_TOOL = `trap '' TERM; sleep 300 & sleep 301; wait`;

describe('a supervised tool', () => {
  // Runs the built module (dist/), as the CLI tests do: orchestrate here is a real Node process.
  it('does not outlive orchestrate killed with SIGKILL, nor do its own children', async () => {
    const marker = `ORCHESTRATE_TEST_MARKER=${randomUUID()}`;
    const [name, value] = marker.split('=') as [string, string];
    const script = `
      const { runProgram } = await import(${JSON.stringify(path.join(REPO_ROOT, 'dist/exec/process.js'))});
      await runProgram({ program: 'sh', args: ['-c', ${JSON.stringify(STUBBORN_TOOL)}], env: { ${name}: '${value}' }, timeoutMs: 600000 });
    `;
    const orchestrate = execa(process.execPath, ['--input-type=module', '-e', script], { reject: false, cwd: REPO_ROOT });
    expect(await within(10_000, () => processesWithEnvironment(marker).length >= 3)).toBe(true);
    orchestrate.kill('SIGKILL');
    await orchestrate;
    const killedAt = Date.now();
    await within(1_000, () => processesWithEnvironment(marker).length === 0);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(1_000);
    expect(processesWithEnvironment(marker)).toEqual([]);
  });

  it('is stopped with its whole process group at the wall timeout', async () => {
    const marker = `ORCHESTRATE_TEST_MARKER=${randomUUID()}`;
    const started = Date.now();
    const run = await runProgram({ program: 'sh', args: ['-c', 'sleep 300 & sleep 301'], env: { ORCHESTRATE_TEST_MARKER: marker.split('=')[1] ?? '' }, timeoutMs: 300 });
    expect(run.timedOut).toBe(true);
    expect(run.ok).toBe(false);
    expect(run.signal).toBe('SIGTERM');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await within(1_000, () => processesWithEnvironment(marker).length === 0)).toBe(true);
  });

  it('leaves nothing behind when it exits: a child it left holding the output pipe is killed, and the run ends at once', async () => {
    const marker = randomUUID();
    const started = Date.now();
    const run = await runProgram({ program: 'sh', args: ['-c', 'sleep 300 & echo started'], env: { ORCHESTRATE_TEST_MARKER: marker }, timeoutMs: 60_000 });
    expect(run).toMatchObject({ ok: true, stdout: 'started\n' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await within(1_000, () => processesWithEnvironment(marker).length === 0)).toBe(true);
  });

  it('is stopped when its cancel signal fires', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const run = await runProgram({ program: 'sleep', args: ['300'], timeoutMs: 60_000, cancelSignal: controller.signal });
    expect(run.cancelled).toBe(true);
    expect(run.ok).toBe(false);
  });

  it('reports its own exit code and output, and a missing program as not found', async () => {
    const run = await runProgram({ program: 'sh', args: ['-c', 'echo out; echo err >&2; exit 3'], timeoutMs: 10_000 });
    expect(run).toMatchObject({ exitCode: 3, ok: false, stdout: 'out\n', stderr: 'err\n', timedOut: false, cancelled: false });
    await expect(runProgram({ program: 'no-such-tool-here', args: [], timeoutMs: 10_000 })).rejects.toThrow(/no-such-tool-here not found/);
  });

  it('keeps a bounded tail of a migration-style run, and fails loudly when a complete capture overflows', async () => {
    // 2 MB of numbered lines: the tail keeps the end, where the failing statement is.
    const produce = ['-c', 'seq 1 300000'];
    const tail = await runProgram({ program: 'sh', args: produce, timeoutMs: 30_000, capture: { mode: 'tail', bytes: 1000 } });
    expect(tail.ok).toBe(true);
    expect(tail.stdout.length).toBe(1000);
    expect(tail.stdout.endsWith('299999\n300000\n')).toBe(true);
    expect(tail.droppedBytes?.stdout).toBeGreaterThan(1_000_000);

    const complete = await runProgram({ program: 'sh', args: produce, timeoutMs: 30_000 });
    expect(complete.stdout.split('\n').length).toBe(300001);
    const overflow = runProgram({ program: 'sh', args: produce, timeoutMs: 30_000, capture: { mode: 'complete', limitBytes: 100_000 } });
    await expect(overflow).rejects.toBeInstanceOf(ToolError);
    await expect(overflow).rejects.toThrow(/wrote more than .* to stdout/);
  });
});

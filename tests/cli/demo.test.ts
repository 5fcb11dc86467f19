import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAudit } from '../../src/report/audit.js';
import { runCli } from '../harness/cli.js';

describe('orchestrate demo', () => {
  it('runs a good migration, then one that fails in production and is rolled back', async () => {
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-demo-test-'));
    const started = Date.now();
    const result = await runCli(['demo', '--workspace', workspace], { cwd: workspace });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(120_000);
    expect(result.stderr).toMatch(/run 1 exited 0 .* run 2 exited 6/);
    const audit = readAudit(path.join(workspace, 'reports'));
    expect(audit.map((entry) => [entry.outcome, entry.exitCode])).toEqual([
      ['succeeded', 0],
      ['rolled-back', 6],
    ]);
    expect(readdirSync(path.join(workspace, 'reports')).filter((name) => name.endsWith('.md'))).toHaveLength(2);
  });
});

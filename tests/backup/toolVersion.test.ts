import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toolVersion } from '../../src/exec/pgDump.js';

/** A pg_dump stand-in that counts its starts in a file and fails while `fail` exists beside it. */
function countingTool(dir: string, name: string): { program: string; starts: () => number } {
  const program = path.join(dir, name);
  const counter = path.join(dir, `${name}.starts`);
  writeFileSync(counter, '');
  writeFileSync(program, `#!/bin/sh\necho x >> ${counter}\nif [ -e ${path.join(dir, 'fail')} ]; then exit 1; fi\necho "pg_dump (PostgreSQL) 15.4"\n`);
  chmodSync(program, 0o755);
  return { program, starts: () => readFileSync(counter, 'utf8').split('\n').filter(Boolean).length };
}

describe('toolVersion', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-toolversion-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a program once for its version, however often a run asks', async () => {
    const tool = countingTool(dir, 'pg_dump_a');
    const answers = await Promise.all([toolVersion(tool.program), toolVersion(tool.program)]);
    expect(await toolVersion(tool.program)).toEqual({ version: '15.4', major: 15 });
    expect(answers).toEqual([{ version: '15.4', major: 15 }, { version: '15.4', major: 15 }]);
    expect(tool.starts()).toBe(1);
  });

  it('never remembers a failure: the next question starts the program again', async () => {
    const tool = countingTool(dir, 'pg_dump_b');
    writeFileSync(path.join(dir, 'fail'), '');
    await expect(toolVersion(tool.program)).rejects.toThrow(/did not report a PostgreSQL version/);
    rmSync(path.join(dir, 'fail'));
    expect(await toolVersion(tool.program)).toEqual({ version: '15.4', major: 15 });
    expect(tool.starts()).toBe(2);
  });
});

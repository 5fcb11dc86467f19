import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { alembicPython } from '../../src/exec/alembicScript.js';

function script(file: string, text: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, 0o755);
  return file;
}

describe('the Python that runs the project\'s Alembic', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'alembic-python-'));
  const invocation = (executable: string[]) => ({ executable, cwd: dir, urlEnv: 'DATABASE_URL' });

  it('is named by `python -m alembic`, and replaces alembic in a wrapper such as `poetry run alembic`', async () => {
    expect(await alembicPython(invocation(['/opt/py/bin/python3.12', '-m', 'alembic']))).toEqual(['/opt/py/bin/python3.12']);
    expect(await alembicPython(invocation(['poetry', 'run', 'alembic', '-c', 'other.ini']))).toEqual(['poetry', 'run', 'python']);
  });

  it('is read from the #! line of an alembic script, relative to migrator.cwd or found on PATH', async () => {
    script(path.join(dir, 'venv', 'bin', 'alembic'), '#!/srv/app/venv/bin/python3\nimport sys\n');
    expect(await alembicPython(invocation(['venv/bin/alembic']))).toEqual(['/srv/app/venv/bin/python3']);
    script(path.join(dir, 'envbin', 'alembic'), '#!/usr/bin/env python3\n');
    const saved = process.env.PATH;
    process.env.PATH = `${path.join(dir, 'envbin')}${path.delimiter}${saved ?? ''}`;
    try {
      expect(await alembicPython(invocation(['alembic']))).toEqual(['/usr/bin/env', 'python3']);
    } finally {
      process.env.PATH = saved;
    }
  });

  it('falls back to the python next to a compiled alembic, and says so when there is none', async () => {
    script(path.join(dir, 'native', 'alembic'), '\x7fELF');
    const python = script(path.join(dir, 'native', 'python'), '');
    expect(await alembicPython(invocation(['native/alembic']))).toEqual([python]);
    script(path.join(dir, 'lonely', 'alembic'), '\x7fELF');
    await expect(alembicPython(invocation(['lonely/alembic']))).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining('cannot find the Python interpreter that runs lonely/alembic') });
  });
});

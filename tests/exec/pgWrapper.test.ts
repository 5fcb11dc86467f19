import { existsSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toolVersion } from '../../src/exec/pgDump.js';
import { pgRestoreList } from '../../src/exec/pgRestore.js';

const WRAPPER = '/usr/share/postgresql-common/pg_wrapper';
const BIN_ROOT = '/usr/lib/postgresql';

/** What pg_wrapper starts for a run against a database (PGHOST set): the newest installed major with the program. */
function newestMajorWith(program: string): number {
  const majors = readdirSync(BIN_ROOT).filter((entry) => /^\d+$/.test(entry) && existsSync(path.join(BIN_ROOT, entry, 'bin', program)));
  return Math.max(...majors.map(Number));
}

const savedCluster = process.env.PGCLUSTER;
afterEach(() => {
  if (savedCluster === undefined) delete process.env.PGCLUSTER;
  else process.env.PGCLUSTER = savedCluster;
});

describe.skipIf(!existsSync(WRAPPER))("Debian's pg_wrapper", () => {
  it('--version and --list start the version a run against a database starts, not the one PGCLUSTER names', async () => {
    // Fresh paths: toolVersion remembers answers per program.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-wrapper-'));
    for (const name of ['pg_dump', 'pg_restore']) symlinkSync(WRAPPER, path.join(dir, name));
    // Without PGHOST, pg_wrapper would start this (missing) version, or fail on it.
    process.env.PGCLUSTER = '9.0/elsewhere';
    expect((await toolVersion(path.join(dir, 'pg_dump'))).major).toBe(newestMajorWith('pg_dump'));
    const list = await pgRestoreList(path.join(dir, 'pg_restore'), path.join(dir, 'no-such-archive'));
    expect(list.ok).toBe(false);
    expect(list.stderr).not.toMatch(/PGCLUSTER/);
    expect(list.stderr).toMatch(/could not open input file/);
  });
});

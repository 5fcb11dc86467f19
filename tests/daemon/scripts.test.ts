import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeMeaning } from '../../src/errors.js';
import { REPO_ROOT } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject } from '../harness/project.js';

const DEPLOY = path.join(REPO_ROOT, 'scripts', 'deploy.sh');
const MIGRATE = path.join(REPO_ROOT, 'scripts', 'migrate.sh');

/** Stub executables that record their argv (one `[arg]` per argument, one line per call) and exit as told. */
function stubs(): { bin: string; orchestrate: string; calls: (name: 'docker' | 'orchestrate') => string[] } {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-stubs-'));
  const write = (name: string, exitVar: string) => {
    const file = path.join(bin, name);
    writeFileSync(file, `#!/bin/sh\nfor a in "$@"; do printf '[%s]' "$a"; done >> "${bin}/${name}.calls"\necho >> "${bin}/${name}.calls"\nexit "\${${exitVar}:-0}"\n`);
    chmodSync(file, 0o755);
    return file;
  };
  write('docker', 'DOCKER_EXIT');
  const orchestrate = write('orchestrate-stub', 'STUB_EXIT');
  return {
    bin,
    orchestrate,
    calls: (name) => {
      const file = path.join(bin, `${name === 'orchestrate' ? 'orchestrate-stub' : name}.calls`);
      return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    },
  };
}

function run(script: string, args: string[], env: Record<string, string>, cwd = os.tmpdir()) {
  return execa('bash', [script, ...args], { cwd, env: { ...env, PATH: [env.PATH, process.env.PATH].filter(Boolean).join(path.delimiter) }, extendEnv: true, reject: false });
}

describe('scripts/deploy.sh, the deploy gate', () => {
  it('runs `docker compose up -d` only when `orchestrate upgrade --yes` exits 0', async () => {
    const stub = stubs();
    const result = await run(DEPLOY, ['--timeout', '60'], { PATH: stub.bin, ORCHESTRATE_BIN: stub.orchestrate, STUB_EXIT: '0' });
    expect(result.exitCode).toBe(0);
    expect(stub.calls('orchestrate')).toEqual(['[upgrade][--yes][--timeout][60]']);
    expect(stub.calls('docker')).toEqual(['[compose][up][-d]']);
    expect(result.stderr).toContain('deploy: deployed');
  });

  it.each([
    [6, /rolled back; state verified equal to before the run; production: as before the run.*next: the old application keeps running/s],
    [7, /production: NEEDS A HUMAN.*do not re-run/s],
    [3, /refused by preflight or safety policy/],
    [4, /holds the migration lock/],
    [5, /rehearsal failed; production: untouched/],
    [1, /unexpected internal error/],
    [2, /usage or configuration error/],
    [8, /migrations pending/],
    [137, /\(exit 137\): orchestrate ended in an unexpected way/],
  ])('does not deploy when orchestrate exits %i, says why from the exit-code table, and exits with that code', async (code, message) => {
    const stub = stubs();
    const result = await run(DEPLOY, [], { PATH: stub.bin, ORCHESTRATE_BIN: stub.orchestrate, STUB_EXIT: String(code) });
    expect(result.exitCode).toBe(code);
    expect(stub.calls('docker')).toEqual([]);
    expect(result.stderr).toContain(`NOT DEPLOYED (exit ${code}`);
    expect(result.stderr).toMatch(message);
    const row = exitCodeMeaning(code);
    if (row) expect(result.stderr).toContain(`NOT DEPLOYED (exit ${code}, ${row.name}): ${row.meaning}; production: ${row.production}.\ndeploy: next: ${row.next}.`);
  });

  it('exits 10 when the migration succeeded but docker compose failed', async () => {
    const stub = stubs();
    const result = await run(DEPLOY, [], { PATH: stub.bin, ORCHESTRATE_BIN: stub.orchestrate, DOCKER_EXIT: '1' });
    expect(result.exitCode).toBe(10);
    expect(stub.calls('docker')).toEqual(['[compose][up][-d]']);
    expect(result.stderr).toMatch(/database is migrated but 'docker compose up -d' failed/);
  });

  describe('with the real orchestrate against a real database', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase('ddep');
    });
    afterAll(() => db.drop());

    it('migrates to head and deploys; a migration that fails its rehearsal blocks the deploy', async () => {
      const project = makeProject('alembic-project');
      const stub = stubs();
      const ok = await run(DEPLOY, [], { PATH: stub.bin, DATABASE_URL: db.url }, project.dir);
      expect(ok.exitCode).toBe(0);
      expect(stub.calls('docker')).toEqual(['[compose][up][-d]']);
      expect(await db.query('SELECT version_num FROM alembic_version')).toEqual([{ version_num: '003_add_order_status' }]);

      writeFileSync(
        path.join(project.migrationsDir, 'migrations', 'versions', '004_broken.py'),
        ['"""broken"""', 'from alembic import op', 'revision = "004_broken"', 'down_revision = "003_add_order_status"', 'branch_labels = None', 'depends_on = None', '', 'def upgrade():', '    op.execute("SELECT 1/0")', '', 'def downgrade():', '    pass', ''].join('\n'),
      );
      const blocked = await run(DEPLOY, [], { PATH: stub.bin, DATABASE_URL: db.url }, project.dir);
      expect(blocked.exitCode).toBe(5);
      expect(blocked.stderr).toContain('NOT DEPLOYED (exit 5, RehearsalFailed)');
      expect(stub.calls('docker')).toHaveLength(1);
      expect(await db.query('SELECT version_num FROM alembic_version')).toEqual([{ version_num: '003_add_order_status' }]);
    });
  });
});

describe('scripts/migrate.sh', () => {
  it('takes the classic option-first form and hands orchestrate its command first', async () => {
    const stub = stubs();
    const env = { ORCHESTRATE_BIN: stub.orchestrate };
    expect((await run(MIGRATE, ['--dry-run', '--skip-backup', '--skip-test', '--force', '--timeout', '600', '--env', 'staging', 'upgrade'], env)).exitCode).toBe(0);
    expect((await run(MIGRATE, ['downgrade', '-1'], env)).exitCode).toBe(0);
    expect((await run(MIGRATE, ['--env', 'development', 'current'], env)).exitCode).toBe(0);
    expect(stub.calls('orchestrate')).toEqual([
      '[upgrade][--dry-run][--skip-backup][--skip-test][--force][--timeout][600][--env][staging]',
      '[downgrade][-1]',
      '[current][--env][development]',
    ]);
    const none = await run(MIGRATE, ['--dry-run'], env);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/name a command/);
  });

  it("passes a misspelt option on, and orchestrate's strict parser refuses it before touching anything", async () => {
    const db = await createTestDatabase('dmig');
    try {
      const project = makeProject('alembic-project');
      const typo = await run(MIGRATE, ['--dry-runn', 'upgrade'], { DATABASE_URL: db.url }, project.dir);
      expect(typo.exitCode).toBe(2);
      expect(typo.stderr).toContain('dry-runn');
      const dry = await run(MIGRATE, ['--dry-run', 'upgrade'], { DATABASE_URL: db.url }, project.dir);
      expect(dry.exitCode).toBe(0);
      expect(await db.query("SELECT to_regclass('public.alembic_version') AS t")).toEqual([{ t: null }]);
    } finally {
      await db.drop();
    }
  });
});

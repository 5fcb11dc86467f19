import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { RefusedError } from '../../src/errors.js';
import { proveToolTarget } from '../../src/pipeline/targetProof.js';
import { createTestDatabase, databaseExists, withAdmin, type TestDatabase } from '../harness/db.js';
import { makeProject } from '../harness/project.js';
import { countingRelay, throughRelay } from '../harness/relay.js';

let production: TestDatabase | undefined;
afterEach(async () => {
  await production?.drop();
  production = undefined;
});

/** The command adapter with a `current` command that connects to `url` (a shell expression) and prints base. */
function commandMigrator(url: string): Settings['migrator'] {
  const current = ['sh', '-c', `psql "${url}" -tAc 'SELECT 1' >/dev/null && echo base`];
  return { tool: 'command', cwd: mkdtempSync(`${os.tmpdir()}/orchestrate-command-`), urlEnv: 'DATABASE_URL', migrationsDir: 'migrations', migrationsTable: 'pgmigrations', commands: { upgrade: current, downgrade: current, current } };
}

async function prove(migrator: Settings['migrator'], db: TestDatabase) {
  const target = parseDatabaseUrl(db.url);
  return proveToolTarget({ migrator, server: target, target, runId: 'c0ffee01', applicationName: 'orchestrate/c0ffee01', inspectName: 'orchestrate/c0ffee01/inspect', lockTimeoutMs: 5000, timeoutMs: 30_000 });
}

describe('the command adapter: proven by the session it opens in the proof database (pg_stat_database.sessions)', () => {
  it('a command that uses DATABASE_URL is proven, and the proof database is dropped', async () => {
    production = await createTestDatabase('cmdproof');
    const proof = await prove(commandMigrator('$DATABASE_URL'), production);
    expect(proof.detail).toContain('the migration command connected to the database given in DATABASE_URL');
    expect(await databaseExists(`${production.name}_proof_c0ffee01`)).toBe(false);
  });

  it('a command that connects elsewhere is refused, naming the variable it ignores', async () => {
    production = await createTestDatabase('cmdproof');
    const refusal = prove(commandMigrator(production.url), production);
    await expect(refusal).rejects.toBeInstanceOf(RefusedError);
    await expect(refusal).rejects.toThrow(/did not connect to the database orchestrate gave it: it ignores DATABASE_URL \(no session opened in the proof database\)/);
    expect(await databaseExists(`${production.name}_proof_c0ffee01`)).toBe(false);
  });
});

describe('without CREATEDB', () => {
  it('the proof cannot run: refused (exit 3) with the reason and the two ways out, nothing created', async () => {
    production = await createTestDatabase('cmdproof');
    const role = `noproof_${production.name}`;
    await withAdmin((client) => client.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`));
    try {
      const url = new URL(production.url);
      url.username = role;
      url.password = 'pw';
      const target = parseDatabaseUrl(url.toString());
      const refusal = proveToolTarget({ migrator: commandMigrator('$DATABASE_URL'), server: target, target, runId: 'c0ffee02', applicationName: 'orchestrate/c0ffee02', inspectName: 'orchestrate/c0ffee02/inspect', lockTimeoutMs: 5000, timeoutMs: 30_000 });
      await expect(refusal).rejects.toBeInstanceOf(RefusedError);
      await expect(refusal).rejects.toThrow(/creating the proof database .* failed \(permission denied to create database\); the role needs CREATEDB there, as for the rehearsal, or set rehearsal\.scratchUrl/);
      expect(await databaseExists(`${production.name}_proof_c0ffee02`)).toBe(false);
    } finally {
      await withAdmin((client) => client.query(`DROP ROLE ${role}`));
    }
  });
});

describe('alembic: the connections the proof opens', () => {
  it('one on the server (create, watch, drop), one to make the proof database\'s view, and the tool\'s own', async () => {
    production = await createTestDatabase('alproof');
    const relay = await countingRelay(new URL(production.url));
    try {
      const project = makeProject('alembic-project');
      const { migrator } = loadSettings({ flags: {}, env: {}, cwd: project.dir });
      const target = parseDatabaseUrl(throughRelay(production.url, relay, 'disable'));
      const proof = await proveToolTarget({ migrator, server: target, target, runId: 'c0ffee03', applicationName: 'orchestrate/c0ffee03', inspectName: 'orchestrate/c0ffee03/inspect', lockTimeoutMs: 5000, timeoutMs: 30_000 });
      expect(proof.detail).toContain('alembic connected to the database given in DATABASE_URL');
      expect(relay.connections()).toBe(3);
      expect(await databaseExists(`${production.name}_proof_c0ffee03`)).toBe(false);
    } finally {
      await relay.close();
    }
  });
});

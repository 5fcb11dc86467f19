import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { runCli, startCli, type CliResult } from '../harness/cli.js';
import { createTestDatabase, withAdmin, type TestDatabase } from '../harness/db.js';
import { alembicRevision, schemaDump, tableContents } from '../harness/oracle.js';
import { makeProject, type TestProject } from '../harness/project.js';
import { alembicOutOfBand } from '../harness/tools.js';

/** A production-like database at revision 003 with rows in every table, and its Alembic project. */
export interface Scenario {
  readonly db: TestDatabase;
  readonly project: TestProject;
  cli(...args: string[]): Promise<CliResult>;
  start(...args: string[]): ReturnType<typeof startCli>;
}

export async function scenario(config: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<Scenario> {
  const db = await createTestDatabase('pipe');
  const project = makeProject('alembic-project', config);
  await alembicOutOfBand(project.migrationsDir, db.url, ['upgrade', 'head']);
  await db.query(`INSERT INTO users (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, 300) AS i`);
  await db.query(`INSERT INTO orders (user_id, total_cents) SELECT 1 + (i % 300), i FROM generate_series(1, 2000) AS i`);
  await db.query('ANALYZE');
  const fullEnv = { DATABASE_URL: db.url, ...env };
  return {
    db,
    project,
    cli: (...args) => runCli(args, { cwd: project.dir, env: fullEnv }),
    start: (...args) => startCli(args, { cwd: project.dir, env: fullEnv }),
  };
}

/**
 * Adds an Alembic revision after `down`. `up`/`down` are Python statements inside upgrade()/downgrade().
 * Production-only behaviour uses current_database(): the rehearsal's scratch copy is named *_rehearsal_*.
 */
export function addRevision(project: TestProject, id: string, down: string, up: string, downgrade: string): void {
  const file = path.join(project.migrationsDir, 'migrations', 'versions', `${id}.py`);
  writeFileSync(
    file,
    `"""${id}"""\nfrom alembic import op\n\nrevision = "${id}"\ndown_revision = "${down}"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    ${up}\n\n\ndef downgrade():\n    ${downgrade}\n`,
  );
}

export const sql = (statement: string) => `op.execute(${JSON.stringify(statement)})`;
export const IN_PRODUCTION = `current_database() NOT LIKE '%rehearsal%'`;

/** A database as the independent oracle sees it (tests/harness/oracle.ts), not through the product's fingerprint. */
export interface DatabaseState {
  readonly revision: string | null;
  readonly schema: string;
  readonly checksums: Record<string, { rows: number; md5: string | null }>;
}

export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

export async function databaseState(url: string): Promise<DatabaseState> {
  const database = databaseName(url);
  return { revision: await alembicRevision(database), schema: await schemaDump(database), checksums: await tableContents(database) };
}

export async function expectUnchanged(url: string, before: DatabaseState): Promise<void> {
  const after = await databaseState(url);
  expect(after.revision).toBe(before.revision);
  expect(after.schema).toBe(before.schema);
  expect(after.checksums).toEqual(before.checksums);
}

/** Scratch databases made from `database` (test files run in parallel on one server: scope by name). */
export async function scratchDatabases(database: string): Promise<string[]> {
  return withAdmin(async (client) => (await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE starts_with(datname, $1 || '_') AND datname <> $1`, [database])).rows.map((row) => row.datname));
}

/** Sessions of any orchestrate run on `database` or its scratch copies. */
export async function runBackends(database: string): Promise<string[]> {
  return withAdmin(async (client) => (await client.query<{ application_name: string }>(`SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'orchestrate/%' AND starts_with(datname, $1)`, [database])).rows.map((row) => row.application_name));
}

export function latestReport(project: TestProject): Record<string, unknown> & { outcome: string; exitCode: number; details: Record<string, unknown>; steps: { name: string; status: string }[] } {
  const dir = path.join(project.dir, 'reports');
  const file = readdirSync(dir).filter((name) => name.endsWith('.json') && name !== 'audit.jsonl').sort().at(-1);
  if (!file) throw new Error('no report written');
  return JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as ReturnType<typeof latestReport>;
}

function onPath(program: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, program))) return path.join(dir, program);
  }
  throw new Error(`${program} is not on PATH`);
}

/** A directory with a pg_dump or pg_restore that fails as told and otherwise runs the real one (a narrow seam: a failing process). */
export function failingToolDir(project: TestProject, tool: 'pg_dump' | 'pg_restore', failWhen: string): string {
  const dir = path.join(project.dir, 'shim');
  mkdirSync(dir, { recursive: true });
  for (const name of ['pg_dump', 'pg_restore']) {
    const real = onPath(name);
    const script = name === tool ? `#!/bin/sh\nif ${failWhen}; then echo "${name}: simulated failure" >&2; exit 1; fi\nexec ${real} "$@"\n` : `#!/bin/sh\nexec ${real} "$@"\n`;
    writeFileSync(path.join(dir, name), script);
    chmodSync(path.join(dir, name), 0o755);
  }
  return dir;
}

/** The same scenario with extra config keys (merged into orchestrate.config.json). */
export function scenarioWithConfig(s: Scenario, extra: Record<string, unknown>): Scenario {
  const file = path.join(s.project.dir, 'orchestrate.config.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...config, ...extra }, null, 2));
  return s;
}

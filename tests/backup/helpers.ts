import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { BackupContext, BackupManifest } from '../../src/backup/index.js';
import { loadSettings } from '../../src/config/settings.js';
import { silentLogger } from '../../src/log/logger.js';
import { runCli, type CliResult } from '../harness/cli.js';
import { urlFor, withAdmin } from '../harness/db.js';

/** A working directory with orchestrate.config.json; backups/, logs/ and reports/ land in it. */
export function makeStore(config: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-backup-'));
  writeFileSync(path.join(dir, 'orchestrate.config.json'), JSON.stringify({ env: 'development', ...config }, null, 2));
  return dir;
}

export function cliIn(dir: string, databaseUrl: string, env: Record<string, string | undefined> = {}) {
  return (...args: string[]): Promise<CliResult> => runCli(args, { cwd: dir, env: { DATABASE_URL: databaseUrl, ...env } });
}

/** The library's view of the same directory, as the pipeline would call it. */
export function contextFor(dir: string, databaseUrl: string): BackupContext {
  const settings = loadSettings({ flags: { databaseUrl }, env: {}, cwd: dir });
  return { settings, logger: silentLogger(), runId: 'testrun1', applicationName: 'orchestrate/testrun1' };
}

export function manifestFile(dir: string, id: string): string {
  return path.join(dir, 'backups', `${id}.json`);
}

export function readManifestFile(dir: string, id: string): BackupManifest {
  return JSON.parse(readFileSync(manifestFile(dir, id), 'utf8')) as BackupManifest;
}

export function editManifest(dir: string, id: string, change: (manifest: BackupManifest) => void): void {
  const manifest = readManifestFile(dir, id);
  change(manifest);
  writeFileSync(manifestFile(dir, id), JSON.stringify(manifest, null, 2));
}

export async function databaseNames(): Promise<string[]> {
  return withAdmin(async (client) => (await client.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).rows.map((row) => row.datname));
}

/** Per-table exact row count and a checksum of the whole content, for comparing two databases. */
export async function tableContents(database: string): Promise<Record<string, { rows: number; md5: string | null }>> {
  return withAdmin(async (client) => {
    const tables = await client.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    const result: Record<string, { rows: number; md5: string | null }> = {};
    for (const { name } of tables.rows) {
      const { rows } = await client.query<{ n: string; md5: string | null }>(`SELECT count(*)::text AS n, md5(string_agg(t::text, ',' ORDER BY t::text)) AS md5 FROM ${name} t`);
      result[name] = { rows: Number(rows[0]?.n), md5: rows[0]?.md5 ?? null };
    }
    return result;
  }, urlFor(database));
}

/** `pg_dump --schema-only`, without the per-dump random \restrict key. */
export async function schemaDump(database: string): Promise<string> {
  const url = new URL(urlFor(database));
  const { stdout } = await execa('pg_dump', ['--schema-only', '--no-password'], {
    env: { PGHOST: url.hostname, PGPORT: url.port, PGUSER: decodeURIComponent(url.username), PGPASSWORD: decodeURIComponent(url.password), PGDATABASE: database },
  });
  return stdout
    .split('\n')
    .filter((line) => !/^\\(un)?restrict /.test(line))
    .join('\n');
}

export function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.join(entry.parentPath, entry.name));
  } catch {
    return [];
  }
}

export function modeOf(file: string): number {
  return statSync(file).mode & 0o777;
}

/** A directory holding one executable `name` script, to put first on PATH. */
export function shimDir(name: string, script: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-shim-'));
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${script}\n`);
  chmodSync(file, 0o755);
  return dir;
}

/** Parses the --json document a command printed. */
export function json<T>(result: CliResult): T {
  return JSON.parse(result.stdout) as T;
}

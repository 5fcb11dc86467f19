import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BackupContext, BackupManifest } from '../../src/backup/index.js';
import { loadSettings } from '../../src/config/settings.js';
import { silentLogger } from '../../src/log/logger.js';
import pg from 'pg';
import { runCli, startCli, type CliResult } from '../harness/cli.js';
import { withAdmin, type TestDatabase } from '../harness/db.js';

export { schemaDump, tableContents } from '../harness/oracle.js';

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

/**
 * Starts `orchestrate backup` in `dir` while a session holds ACCESS EXCLUSIVE on `table`, and returns
 * once pg_dump queues for that lock (up to backup.lockWaitTimeoutMs, 30 s): a window in which the
 * running pg_dump can be looked at. `release` rolls the blocking transaction back.
 */
export async function backupQueuedBehindLock(db: TestDatabase, dir: string, table: string): Promise<{ run: ReturnType<typeof startCli>; release: () => Promise<void> }> {
  const blocker = new pg.Client({ connectionString: db.url, application_name: 'blocker' });
  await blocker.connect();
  await blocker.query('BEGIN');
  await blocker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  const release = async () => {
    await blocker.query('ROLLBACK').catch(() => undefined);
    await blocker.end().catch(() => undefined);
  };
  const run = startCli(['backup'], { cwd: dir, env: { DATABASE_URL: db.url } });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const waiting = await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND application_name LIKE 'orchestrate/%'`, [db.name])).rowCount);
    if (waiting) return { run, release };
    if (Date.now() > deadline) {
      await release();
      throw new Error('pg_dump never queued for the table lock');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

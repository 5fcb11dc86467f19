import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { BackupContext } from '../../src/backup/index.js';
import { loadSettings } from '../../src/config/settings.js';
import { parseDatabaseUrl, type DbTarget } from '../../src/db/target.js';
import { silentLogger } from '../../src/log/logger.js';
import { runPreflightChecks, type CheckResult, type PreflightCheckName, type PreflightCheckOptions } from '../../src/preflight/index.js';
import { urlFor, withAdmin } from '../harness/db.js';

export const APPLICATION_NAME = 'orchestrate/pftest/preflight';

/** A run's context over a temporary working directory holding `config` as orchestrate.config.json. */
export function contextWith(config: Record<string, unknown> = {}): BackupContext {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-preflight-'));
  writeFileSync(path.join(dir, 'orchestrate.config.json'), JSON.stringify({ env: 'development', ...config }));
  const settings = loadSettings({ flags: {}, env: {}, cwd: dir });
  return { settings, logger: silentLogger(), runId: 'pftest', applicationName: 'orchestrate/pftest' };
}

export async function check(target: DbTarget, options: Partial<PreflightCheckOptions> = {}, config: Record<string, unknown> = {}): Promise<CheckResult[]> {
  return runPreflightChecks(contextWith(config), target, { applicationName: APPLICATION_NAME, willBackup: false, ...options });
}

export function named(results: readonly CheckResult[], name: PreflightCheckName): CheckResult {
  const found = results.find((result) => result.name === name);
  if (!found) throw new Error(`no ${name} in ${JSON.stringify(results)}`);
  return found;
}

export interface LoginRole {
  readonly name: string;
  /** The role's own connection to `database`. */
  target(database: string): DbTarget;
  drop(): Promise<void>;
}

/** A LOGIN role that is not a superuser, with a scram password and CONNECT on `databases`. */
export async function createLoginRole(databases: readonly string[], attributes = ''): Promise<LoginRole> {
  const name = `pf_role_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await withAdmin(async (client) => {
    await client.query(`SET password_encryption = 'scram-sha-256'`);
    await client.query(`CREATE ROLE ${name} LOGIN NOSUPERUSER ${attributes} PASSWORD '${password}'`);
    for (const database of databases) await client.query(`GRANT CONNECT ON DATABASE "${database}" TO ${name}`);
  });
  return {
    name,
    target(database: string) {
      const url = new URL(urlFor(database));
      url.username = name;
      url.password = password;
      return parseDatabaseUrl(url.toString());
    },
    drop: () =>
      withAdmin(async (client) => {
        for (const database of databases) await client.query(`REVOKE ALL ON DATABASE "${database}" FROM ${name}`).catch(() => undefined);
        await client.query(`DROP ROLE IF EXISTS ${name}`);
      }),
  };
}

/** A session of its own on `url`, tagged so its pid and application name can be looked for. */
export async function openSession(url: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

export async function backendPid(client: pg.Client): Promise<number> {
  return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid ?? -1;
}

/** A directory of executable scripts (and symlinks to real programs), to stand in for tools.pgBinDir. */
export function binDir(scripts: Readonly<Record<string, string>>, links: Readonly<Record<string, string>> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-pfbin-'));
  for (const [name, script] of Object.entries(scripts)) {
    const file = path.join(dir, name);
    writeFileSync(file, `#!/bin/sh\n${script}\n`);
    chmodSync(file, 0o755);
  }
  for (const [name, target] of Object.entries(links)) symlinkSync(target, path.join(dir, name));
  return dir;
}

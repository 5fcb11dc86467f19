import path from 'node:path';
import { execa, type ResultPromise } from 'execa';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Variables of the developer's shell that would change what the CLI under test does. */
const SCRUBBED = ['DATABASE_URL', 'POSTGRES_PASSWORD', 'ORCHESTRATE_ENV', 'BACKUP_DIR', 'LOG_DIR', 'REPORT_DIR', 'PGPASSWORD', 'PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGSSLMODE', 'PGSSLROOTCERT', 'PGSSLCERT', 'PGSSLKEY'];

function cliEnv(extra: Readonly<Record<string, string | undefined>> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of SCRUBBED) delete env[name];
  return { ...env, ...extra };
}

/** Starts the built CLI (dist/cli.js) as a real process. */
export function startCli(args: readonly string[], options: CliOptions): ResultPromise<{ reject: false; extendEnv: false; all: true; forceKillAfterDelay: false }> {
  // No forced SIGKILL after a kill(): tests signal the CLI on purpose and wait for its cleanup.
  return execa(process.execPath, [CLI, ...args], { cwd: options.cwd, env: cliEnv(options.env), extendEnv: false, reject: false, all: true, forceKillAfterDelay: false });
}

export async function runCli(args: readonly string[], options: CliOptions): Promise<CliResult> {
  const result = await startCli(args, options);
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

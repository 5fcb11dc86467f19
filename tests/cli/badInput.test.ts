import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { makeProject } from '../harness/project.js';
import { addRevision, databaseState, expectUnchanged, failingToolDir, scenario, sql, type DatabaseState, type Scenario } from '../pipeline/helpers.js';

/**
 * Bad input, run through the real CLI: one line on stderr, the documented exit code, no backup, and
 * production unchanged (schema fingerprint and row checksums, computed independently of the code under test).
 */
let production: Scenario;
let before: DatabaseState;

beforeAll(async () => {
  production = await scenario();
  before = await databaseState(production.db.url);
});

afterAll(async () => {
  await production?.db.drop();
});

const CANARY = 'Canary7q';

interface BadInput {
  readonly name: string;
  readonly args: readonly string[];
  /** Config keys on top of the alembic project's; a function gets the project directory. */
  readonly config?: Record<string, unknown> | ((dir: string) => Record<string, unknown>);
  readonly url?: (url: string) => string;
  readonly env?: Record<string, string>;
  readonly exitCode: number;
  readonly message: RegExp;
  /** Settings were valid, so the run started its log before the problem showed. */
  readonly runStarted?: boolean;
}

function withPath(url: string, change: (parsed: URL) => void): string {
  const parsed = new URL(url);
  change(parsed);
  return parsed.toString();
}

const notAProgram = (dir: string) => {
  const file = path.join(dir, 'not-a-program');
  writeFileSync(file, 'plain text, no execute bit\n');
  chmodSync(file, 0o644);
  return file;
};

const executableText = (dir: string) => {
  const file = path.join(dir, 'executable-text');
  writeFileSync(file, 'plain text with the execute bit\n');
  chmodSync(file, 0o755);
  return file;
};

const CASES: readonly BadInput[] = [
  { name: '--timeout past the 24.8-day timer limit', args: ['upgrade', '--yes', '--timeout', '3000000'], exitCode: 2, message: /--timeout \(seconds\): at most 2147483 seconds \(24.8 days\)/ },
  { name: '--timeout 1e309 (infinite)', args: ['upgrade', '--yes', '--timeout', '1e309'], exitCode: 2, message: /--timeout/ },
  { name: '--lock-timeout 0', args: ['upgrade', '--yes', '--lock-timeout', '0'], exitCode: 2, message: /--lock-timeout/ },
  { name: 'config pipeline.timeoutSeconds 1e12', args: ['upgrade', '--yes'], config: { pipeline: { timeoutSeconds: 1e12 } }, exitCode: 2, message: /pipeline\.timeoutSeconds/ },
  { name: 'config backup.lockWaitTimeoutMs 1e308', args: ['upgrade', '--yes'], config: { backup: { lockWaitTimeoutMs: 1e308 } }, exitCode: 2, message: /backup\.lockWaitTimeoutMs/ },
  { name: 'config backup.retentionDays 1e308', args: ['backup'], config: { backup: { retentionDays: 1e308 } }, exitCode: 2, message: /backup\.retentionDays/ },
  { name: 'config notifications.budgetMs 1e12', args: ['upgrade', '--yes'], config: { notifications: { budgetMs: 1e12 } }, exitCode: 2, message: /notifications\.budgetMs/ },
  { name: 'a 50 kB --reason', args: ['upgrade', '--yes', '--force', '--reason', 'x'.repeat(50 * 1024)], exitCode: 2, message: /--reason is 51200 characters long; at most 1000/ },
  { name: 'daemon timezone Mars/Phobos', args: ['daemon'], config: { daemon: { timezone: 'Mars/Phobos', port: 0 } }, exitCode: 2, message: /daemon\.timezone: must be an IANA time zone/ },
  { name: 'daemon --port 70000', args: ['daemon', '--port', '70000'], exitCode: 2, message: /--port: Too big/ },
  { name: 'a ?options= URL parameter', args: ['upgrade', '--yes'], url: (url) => withPath(url, (u) => u.searchParams.set('options', '-c statement_timeout=0')), exitCode: 2, message: /parameter "options" is refused/ },
  { name: 'an unknown URL parameter', args: ['upgrade', '--yes'], url: (url) => withPath(url, (u) => u.searchParams.set('target_session_attrs', 'any')), exitCode: 2, message: /parameter "target_session_attrs" is not supported/ },
  { name: 'a database name over 63 bytes', args: ['upgrade', '--yes'], url: (url) => withPath(url, (u) => (u.pathname = `/${'é'.repeat(32)}`)), exitCode: 2, message: /is 64 bytes long; PostgreSQL names are at most 63 bytes/ },
  { name: 'an unknown sslmode', args: ['check'], url: (url) => withPath(url, (u) => u.searchParams.set('sslmode', 'on')), exitCode: 2, message: /sslmode "on" is not one of disable, allow, prefer, require, verify-ca, verify-full/ },
  ...['/', '#', '?', '@'].map(
    (char): BadInput => ({
      name: `an unparsable URL whose password holds "${char}"`,
      args: ['upgrade', '--yes'],
      // A lone @ would parse (the last @ ends the userinfo): a port that is no number keeps the URL unparsable.
      url: (url) => `postgresql://postgres:${CANARY}${char}Part@${new URL(url).hostname}:${char === '@' ? 'port' : new URL(url).port}/db`,
      exitCode: 2,
      message: /cannot parse database URL "postgresql:\/\/\*\*\*\*\*@/,
    }),
  ),
  { name: 'alembic not on PATH', args: ['current'], env: { PATH: '/usr/bin:/bin' }, exitCode: 2, message: /alembic not found/, runStarted: true },
  { name: 'an executable that is not a program', args: ['current'], config: (dir) => ({ migrator: { executable: [notAProgram(dir)] } }), exitCode: 2, message: /could not start .*not-a-program: .*not-a-program is not executable/, runStarted: true },
  { name: 'an executable file that is not a program', args: ['current'], config: (dir) => ({ migrator: { executable: [executableText(dir)] } }), exitCode: 2, message: /could not start .*executable-text: .*executable-text is not a program \(no "#!" line/, runStarted: true },
];

describe('bad input: one clear line, the documented exit code, nothing written', () => {
  it.each(CASES.map((input) => [input.name, input] as const))('%s', async (_name, input) => {
    const project = makeProject('alembic-project');
    const config = typeof input.config === 'function' ? input.config(project.dir) : (input.config ?? {});
    const { migrator, ...rest } = config as { migrator?: Record<string, unknown> };
    writeFileSync(path.join(project.dir, 'orchestrate.config.json'), JSON.stringify({ env: 'development', ...rest, migrator: { tool: 'alembic', cwd: 'app', ...migrator } }));
    // A pending migration: without the bad input, this run would back up and change production.
    addRevision(project, '004_add_nickname', '003_add_order_status', sql('ALTER TABLE users ADD COLUMN nickname text'), sql('ALTER TABLE users DROP COLUMN nickname'));
    const url = input.url ? input.url(production.db.url) : production.db.url;
    const result = await runCli(input.args, { cwd: project.dir, env: { DATABASE_URL: url, ...input.env } });

    expect(result.exitCode, result.stderr).toBe(input.exitCode);
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(input.message);
    expect(result.stderr).not.toMatch(/warning/i);
    expect(result.stderr + result.stdout).not.toContain(CANARY);
    expect(existsSync(path.join(project.dir, 'backups')) ? readdirSync(path.join(project.dir, 'backups')) : []).toEqual([]);
    if (!input.runStarted) {
      expect(existsSync(path.join(project.dir, 'logs'))).toBe(false);
      expect(existsSync(path.join(project.dir, 'reports'))).toBe(false);
    }
    await expectUnchanged(production.db.url, before);
  });
});

describe('a tool that fails', () => {
  it('pg_dump failing is a refusal (exit 3, docs/backup.md), and leaves no backup', async () => {
    const project = makeProject('alembic-project');
    const shim = failingToolDir(project, 'pg_dump', '[ "$1" != "--version" ]');
    writeFileSync(path.join(project.dir, 'orchestrate.config.json'), JSON.stringify({ env: 'development', migrator: { tool: 'alembic', cwd: 'app' }, tools: { pgBinDir: shim } }));
    const result = await runCli(['backup'], { cwd: project.dir, env: { DATABASE_URL: production.db.url } });
    expect(result.exitCode, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/pg_dump failed: .*simulated failure/);
    expect(readdirSync(path.join(project.dir, 'backups')).filter((name) => !name.startsWith('.'))).toEqual([]);
    await expectUnchanged(production.db.url, before);
  });
});

import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';

function emptyDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'orchestrate-cli-'));
}

describe('strict, fail-closed parsing', () => {
  it.each([
    [['upgrade', '--dry-runn'], /dry-runn/],
    [['upgrade', '--dryrun'], /dryrun/],
    [['nosuchcommand'], /nosuchcommand/],
    [['check', '--env', 'prod'], /env/],
    [['check', '--database-url'], /database-url/],
  ])('%j exits 2 with one line naming the problem and touches nothing', async (args, pattern) => {
    const cwd = emptyDir();
    const result = await runCli(args, { cwd, env: { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' } });
    expect(result.exitCode).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('a config file with an unknown key exits 2 naming the key, every problem at once', async () => {
    const cwd = emptyDir();
    writeFileSync(path.join(cwd, 'orchestrate.config.json'), JSON.stringify({ migrator: { tool: 'alembic', urlEnvv: 'X' }, backup: { keepLast: 0 } }));
    const result = await runCli(['check'], { cwd });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('unknown key "urlEnvv"');
    expect(result.stderr).toContain('backup.keepLast');
    expect(existsSync(path.join(cwd, 'logs'))).toBe(false);
  });

  it('prints help for every command and the version', async () => {
    const cwd = emptyDir();
    const help = await runCli(['--help'], { cwd });
    expect(help.exitCode).toBe(0);
    const commands = [...help.stdout.matchAll(/^ {2}orchestrate (\S+)/gm)].map((match) => match[1] ?? '');
    expect(commands).toEqual(expect.arrayContaining(['current', 'history', 'check']));
    for (const command of commands) {
      const result = await runCli([...command.split(' '), '--help'], { cwd });
      expect(result.exitCode, command).toBe(0);
      expect(result.stdout, command).toContain('--database-url');
    }
    const version = await runCli(['--version'], { cwd });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('--json errors are one JSON document on stdout', async () => {
    const result = await runCli(['check', '--json'], { cwd: emptyDir() });
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, exitCode: 2, error: expect.stringContaining('no database given') });
  });
});

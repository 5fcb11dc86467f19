import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';

function dirWithConfig(config: unknown): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-settings-'));
  writeFileSync(path.join(dir, 'orchestrate.config.json'), JSON.stringify(config));
  return dir;
}

describe('loadSettings', () => {
  it('layers defaults < config file < environment < flags', () => {
    const cwd = dirWithConfig({ env: 'staging', backupDir: 'from-file', databaseUrl: 'postgresql://file@h/filedb', pipeline: { timeoutSeconds: 10 } });
    const fileOnly = loadSettings({ flags: {}, env: {}, cwd });
    expect(fileOnly.env).toBe('staging');
    expect(fileOnly.backupDir).toBe(path.join(cwd, 'from-file'));
    expect(fileOnly.target?.database).toBe('filedb');
    expect(fileOnly.pipeline.timeoutSeconds).toBe(10);
    expect(fileOnly.pipeline.lockTimeoutMs).toBe(5000);

    const withEnv = loadSettings({ flags: {}, env: { ORCHESTRATE_ENV: 'development', BACKUP_DIR: '/tmp/env-backups', DATABASE_URL: 'postgresql://env@h/envdb' }, cwd });
    expect(withEnv.env).toBe('development');
    expect(withEnv.backupDir).toBe('/tmp/env-backups');
    expect(withEnv.target?.database).toBe('envdb');

    const withFlags = loadSettings({
      flags: { env: 'production', backupDir: '/tmp/flag-backups', databaseUrl: 'postgresql://flag@h/flagdb' },
      overrides: { timeoutSeconds: 99 },
      env: { ORCHESTRATE_ENV: 'development', BACKUP_DIR: '/tmp/env-backups', DATABASE_URL: 'postgresql://env@h/envdb' },
      cwd,
    });
    expect(withFlags.env).toBe('production');
    expect(withFlags.backupDir).toBe('/tmp/flag-backups');
    expect(withFlags.target?.database).toBe('flagdb');
    expect(withFlags.pipeline.timeoutSeconds).toBe(99);
  });

  it('defaults to production, and resolves migrator.cwd against the config file', () => {
    const cwd = dirWithConfig({ migrator: { cwd: 'app' } });
    const settings = loadSettings({ flags: {}, env: {}, cwd });
    expect(settings.env).toBe('production');
    expect(settings.migrator.cwd).toBe(path.join(cwd, 'app'));
    expect(settings.rollback.restore).toBe('confirm');
    expect(Object.isFrozen(settings.pipeline)).toBe(true);
  });

  it('takes the password from POSTGRES_PASSWORD when the URL has none', () => {
    const settings = loadSettings({ flags: { databaseUrl: 'postgresql://app@db:5433/prod' }, env: { POSTGRES_PASSWORD: 'from-env-pw' }, cwd: os.tmpdir() });
    expect(settings.target).toMatchObject({ host: 'db', port: 5433, user: 'app', password: 'from-env-pw' });
  });

  it('reports every problem at once, unknown keys included', () => {
    const cwd = dirWithConfig({ migrator: { tol: 'alembic' }, backup: { format: 'zip' }, bogus: 1 });
    let caught: unknown;
    try {
      loadSettings({ flags: {}, env: { ORCHESTRATE_ENV: 'prod' }, cwd });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems.join('\n');
    expect(problems).toContain('unknown key "bogus"');
    expect(problems).toContain('migrator: unknown key "tol"');
    expect(problems).toContain('backup.format');
    expect(problems).toContain('ORCHESTRATE_ENV="prod"');
  });
});

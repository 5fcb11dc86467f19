import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/settings.js';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { ConfigError } from '../../src/errors.js';
import { toolEnvironment } from '../../src/exec/toolEnv.js';

const target = parseDatabaseUrl('postgresql://app:s3cret@db.example:5433/shop?sslmode=require');

function settingsWith(migrator: Record<string, unknown>) {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-toolurl-'));
  writeFileSync(path.join(cwd, 'orchestrate.config.json'), JSON.stringify({ migrator }));
  return () => loadSettings({ flags: {}, env: {}, cwd });
}

describe('the URL a migration tool is given', () => {
  it('is postgresql:// without the password by default; migrator.urlScheme names a driver', () => {
    const plain = toolEnvironment(target, { applicationName: 'orchestrate/x' }, 'APP_DB');
    expect(plain.APP_DB).toBe('postgresql://app@db.example:5433/shop?sslmode=require');
    expect(plain.PGPASSWORD).toBe('s3cret');
    const asyncpg = toolEnvironment(target, { applicationName: 'orchestrate/x' }, 'APP_DB', 'postgresql+asyncpg');
    expect(asyncpg.APP_DB).toBe('postgresql+asyncpg://app@db.example:5433/shop?sslmode=require');
    expect(JSON.stringify(asyncpg)).not.toContain('s3cret@');
  });

  it('migrator.urlScheme and migrator.versionTable are validated as configuration (exit 2)', () => {
    expect(settingsWith({ urlScheme: 'postgresql+asyncpg', versionTable: 'meta.schema_history' })().migrator).toMatchObject({ urlScheme: 'postgresql+asyncpg', versionTable: 'meta.schema_history' });
    for (const bad of [{ urlScheme: 'mysql' }, { urlScheme: 'postgresql+asyncpg://' }, { versionTable: 'a.b.c' }]) {
      expect(settingsWith(bad)).toThrow(ConfigError);
    }
  });
});

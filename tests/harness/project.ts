import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './cli.js';

export const FIXTURES = path.join(REPO_ROOT, 'tests', 'fixtures');

export interface TestProject {
  /** Working directory with orchestrate.config.json; backups/, logs/ and reports/ land here. */
  readonly dir: string;
  /** The copied migration project (what migrator.cwd points at). */
  readonly migrationsDir: string;
}

/**
 * A temporary working directory holding a copy of a fixture migration project and a config file
 * pointing at it. Copying lets a test add or break migrations without touching the fixture.
 */
export function makeProject(fixture: 'alembic-project' | 'alembic-merged' | 'node-pg-migrate-project', config: Record<string, unknown> = {}): TestProject {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-test-'));
  const migrationsDir = path.join(dir, 'app');
  cpSync(path.join(FIXTURES, fixture), migrationsDir, { recursive: true });
  const tool = fixture.startsWith('alembic') ? 'alembic' : 'node-pg-migrate';
  const { migrator, ...rest } = config as { migrator?: Record<string, unknown> };
  writeFileSync(path.join(dir, 'orchestrate.config.json'), JSON.stringify({ env: 'development', ...rest, migrator: { tool, cwd: 'app', ...migrator } }, null, 2));
  return { dir, migrationsDir };
}

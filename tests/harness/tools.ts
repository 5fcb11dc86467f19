import path from 'node:path';
import { execa } from 'execa';
import { REPO_ROOT } from './cli.js';

/** Runs the fixture project's own alembic out of band, as a developer would. */
export async function alembicOutOfBand(migrationsDir: string, databaseUrl: string, args: readonly string[]): Promise<void> {
  await execa('alembic', [...args], { cwd: migrationsDir, env: { DATABASE_URL: databaseUrl } });
}

export async function nodePgMigrateOutOfBand(migrationsDir: string, databaseUrl: string, args: readonly string[]): Promise<void> {
  const bin = path.join(REPO_ROOT, 'node_modules', 'node-pg-migrate', 'bin', 'node-pg-migrate.js');
  await execa(process.execPath, [bin, ...args], { cwd: migrationsDir, env: { DATABASE_URL: databaseUrl } });
}

import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { EXIT_CODES, ExitCode, InternalError } from '../errors.js';
import { startLocalCluster } from '../localpg/cluster.js';
import { AlembicMigrator } from '../migrators/alembic.js';
import { NodePgMigrateMigrator } from '../migrators/nodePgMigrate.js';
import type { Migrator } from '../migrators/types.js';
import { parseDatabaseUrl } from '../db/target.js';
import { BASELINE, BLOCKED, GOOD, writeMigrations, type DemoTool } from './sampleProject.js';

const PACKAGE_ROOT = path.resolve(import.meta.dirname, '..', '..');
const CLI = path.join(PACKAGE_ROOT, 'dist', 'cli.js');

/** The project's own venv (scripts/bootstrap.sh), else an alembic on PATH, else none. */
function findAlembic(): string | undefined {
  const venv = path.join(PACKAGE_ROOT, '.venv', 'bin', 'alembic');
  if (existsSync(venv)) return venv;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'alembic'))) return path.join(dir, 'alembic');
  }
  return undefined;
}

export interface DemoResult {
  readonly workspace: string;
  readonly tool: DemoTool;
  readonly goodRunExit: number;
  readonly failingRunExit: number;
}

export interface DemoOptions {
  /** Where the demo's project, backups, logs and reports go; a new temporary directory by default. */
  readonly workspace?: string;
  readonly say: (line: string) => void;
}

/**
 * `orchestrate demo`: a throwaway PostgreSQL, a sample shop database with a few thousand rows and an
 * Alembic project; one upgrade that succeeds, then one that fails in production on a lock held by a
 * long report query, and is rolled back automatically. The runs are the real CLI, as a user runs it.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { say } = options;
  const alembic = findAlembic();
  const tool: DemoTool = alembic ? 'alembic' : 'node-pg-migrate';
  const workspace = options.workspace ?? mkdtempSync(path.join(os.tmpdir(), 'orchestrate-demo-'));
  const appDir = path.join(workspace, 'app');

  say('== orchestrate demo ==');
  say(`starting a throwaway PostgreSQL (${tool === 'alembic' ? 'Alembic' : 'node-pg-migrate: no Alembic found'})...`);
  const cluster = await startLocalCluster();
  try {
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query('CREATE DATABASE shop');
    await admin.end();
    const shopUrl = cluster.url.replace(/\/postgres$/, '/shop');
    const shop = parseDatabaseUrl(shopUrl);

    writeMigrations(appDir, tool, BASELINE, null);
    writeFileSync(
      path.join(workspace, 'orchestrate.config.json'),
      `${JSON.stringify(
        {
          env: 'production',
          migrator: { tool, cwd: 'app', ...(alembic ? { executable: [alembic] } : {}) },
          validation: { criticalTables: ['customers', 'orders'], smokeQueries: ['SELECT count(*) FROM orders JOIN customers ON customers.id = orders.customer_id'] },
        },
        null,
        2,
      )}\n`,
    );

    const migrator: Migrator = alembic
      ? new AlembicMigrator({ executable: [alembic], cwd: appDir, urlEnv: 'DATABASE_URL' })
      : new NodePgMigrateMigrator({ executable: undefined, cwd: appDir, urlEnv: 'DATABASE_URL', migrationsDir: 'migrations', migrationsTable: 'pgmigrations' });
    const baseline = await migrator.upgrade(shop, (await migrator.migrations()).at(-1)?.id ?? '', { applicationName: 'orchestrate-demo' });
    if (!baseline.ok) throw new InternalError(`demo: could not create the sample schema: ${baseline.stderr}`);
    const data = new pg.Client({ connectionString: shopUrl });
    await data.connect();
    await data.query(`INSERT INTO customers (email, name) SELECT 'customer' || i || '@example.com', 'Customer ' || i FROM generate_series(1, 3000) AS i`);
    await data.query(`INSERT INTO orders (customer_id, total_cents) SELECT 1 + (i % 3000), (i * 37) % 10000 FROM generate_series(1, 12000) AS i`);
    await data.query('ANALYZE');
    say(`sample database "shop": 3000 customers, 12000 orders, at revision ${BASELINE.at(-1)?.id}; project in ${workspace}`);

    const orchestrate = (args: readonly string[]) => {
      say('');
      say(`$ orchestrate ${args.join(' ')}`);
      return execa(process.execPath, [CLI, ...args], {
        cwd: workspace,
        env: { DATABASE_URL: shopUrl },
        stdio: ['ignore', 'inherit', 'inherit'],
        reject: false,
      });
    };

    say('');
    say(`== 1. a good migration (${GOOD.map((m) => m.id).join(', ')}): backup, rehearsal, migrate, validate ==`);
    writeMigrations(appDir, tool, [...BASELINE, ...GOOD], null);
    const good = await orchestrate(['upgrade', '--yes']);

    say('');
    say(`== 2. a migration that fails in production (${BLOCKED.map((m) => m.id).join(', ')}) ==`);
    say('a long report query holds a lock on "orders"; the rehearsal on the scratch copy passes, production hits lock_timeout');
    writeMigrations(appDir, tool, [...BASELINE, ...GOOD, ...BLOCKED], null);
    await data.query('BEGIN');
    await data.query('SELECT count(*) FROM orders');
    const failing = await orchestrate(['upgrade', '--yes', '--lock-timeout', '2000', '--lock-retries', '2']);
    await data.query('ROLLBACK');
    await data.end();

    say('');
    say(`== result ==`);
    say(`run 1 exited ${good.exitCode} (${EXIT_CODES[ExitCode.Success].meaning}), run 2 exited ${failing.exitCode} (${EXIT_CODES[ExitCode.RolledBack].meaning})`);
    say(`reports: ${path.join(workspace, 'reports')}   logs: ${path.join(workspace, 'logs')}   backups: ${path.join(workspace, 'backups')}`);
    if (good.exitCode !== 0 || failing.exitCode !== 6) throw new InternalError(`the demo did not go as expected (exit codes ${good.exitCode} and ${failing.exitCode}); see ${workspace}`);
    return { workspace, tool, goodRunExit: good.exitCode ?? -1, failingRunExit: failing.exitCode ?? -1 };
  } finally {
    await cluster.stop();
  }
}

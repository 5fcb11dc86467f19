import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunContext } from '../context.js';
import type { DbTarget } from '../db/target.js';
import { ExitCode, ToolError, UsageError } from '../errors.js';
import { alembicDowngradeSql, type AlembicInvocation } from '../exec/alembic.js';
import { lastLines } from '../exec/process.js';
import type { Migration } from '../migrators/types.js';

/** The SQL one migration would run; undefined when the tool cannot show it without running it. */
export interface RenderedMigration {
  readonly migration: string;
  readonly sql: string | undefined;
}

/** Rendering offline is quick; a tool that hangs here is broken, not slow. */
const RENDER_TIMEOUT_MS = 120_000;

function indexOf(migrations: readonly Migration[], id: string | null): number {
  if (id === null) return -1;
  const index = migrations.findIndex((migration) => migration.id === id);
  if (index < 0) throw new UsageError(`unknown revision "${id}"`);
  return index;
}

/** The migrations an upgrade from `from` (exclusive) to `to` (inclusive) applies, oldest first. */
function upgradeSteps(migrations: readonly Migration[], range: { from: string | null; to: string }): Migration[] {
  return migrations.slice(indexOf(migrations, range.from) + 1, indexOf(migrations, range.to) + 1);
}

/** The tables the tool keeps its own records in: statements on them are bookkeeping, never findings. */
export function bookkeepingTables(settings: RunContext['settings']): ReadonlySet<string> {
  switch (settings.migrator.tool) {
    case 'alembic':
      return new Set(['alembic_version']);
    case 'node-pg-migrate':
      return new Set([settings.migrator.migrationsTable]);
    case 'command':
      return new Set();
  }
}

/**
 * The SQL of each migration of an upgrade range, rendered by the tool's offline mode. Alembic renders
 * one migration at a time (`prev:this --sql`) so every finding names its migration; node-pg-migrate's
 * dry run always starts at the database's current state, so it is rendered once and split at the
 * `### MIGRATION name (UP) ###` markers it prints; the command adapter reads `safety.sqlFiles`.
 */
export async function renderUpgrades(context: RunContext, target: DbTarget, range: { from: string | null; to: string }): Promise<RenderedMigration[]> {
  const migrator = context.migrator();
  const steps = upgradeSteps(await migrator.migrations(), range);
  if (steps.length === 0) return [];
  const session = context.toolSession({ timeoutMs: RENDER_TIMEOUT_MS });
  switch (migrator.tool) {
    case 'alembic': {
      const rendered: RenderedMigration[] = [];
      let previous = range.from;
      for (const step of steps) {
        rendered.push({ migration: step.id, sql: await migrator.renderSql(target, previous, step.id, session) });
        previous = step.id;
      }
      return rendered;
    }
    case 'node-pg-migrate': {
      const output = await migrator.renderSql(target, range.from, range.to, session);
      const sections = output === undefined ? new Map<string, string>() : splitMarkedOutput(output, 'UP');
      return steps.map((step) => ({ migration: step.id, sql: sections.get(step.id) }));
    }
    case 'command':
      return Promise.all(steps.map(async (step) => ({ migration: step.id, sql: await readSqlFile(context, step.id) })));
  }
}

async function readSqlFile(context: RunContext, migration: string): Promise<string | undefined> {
  const file = context.settings.safety.sqlFiles[migration];
  if (file === undefined) return undefined;
  const resolved = path.resolve(context.settings.migrator.cwd, file);
  try {
    return await readFile(resolved, 'utf8');
  } catch (error) {
    throw new UsageError(`safety.sqlFiles: cannot read ${resolved} for migration ${migration}`, { cause: error });
  }
}

const MARKER = /^### MIGRATION (.+) \((UP|DOWN)\) ###$/;
// node-pg-migrate's own progress lines around the SQL: "> Migrating files:", "#> WARNING ...", "Migrations complete!".
const LOG_LINE = /^(> |#> |Migrations complete!|No migrations to run!)/;

/** Splits node-pg-migrate's dry-run output into each migration's SQL. */
export function splitMarkedOutput(output: string, direction: 'UP' | 'DOWN'): Map<string, string> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of output.split('\n')) {
    const marker = MARKER.exec(line.trim());
    if (marker) {
      current = marker[2] === direction ? [] : undefined;
      if (current && marker[1]) sections.set(marker[1], current);
      continue;
    }
    if (current && !LOG_LINE.test(line)) current.push(line);
  }
  return new Map([...sections].map(([id, lines]) => [id, lines.join('\n')]));
}

/** How orchestrate starts the project's Alembic; the same defaults as the adapter's. */
function alembicInvocation(settings: RunContext['settings']): AlembicInvocation {
  return { executable: settings.migrator.executable ?? ['alembic'], cwd: settings.migrator.cwd, urlEnv: settings.migrator.urlEnv };
}

/**
 * The SQL of each migration a downgrade from `from` to `to` (null: base) reverts, newest first, or
 * undefined when the tool cannot render a downgrade offline (only Alembic can: `downgrade a:b --sql`).
 */
export async function renderDowngrades(context: RunContext, target: DbTarget, range: { from: string; to: string | null }): Promise<RenderedMigration[] | undefined> {
  const settings = context.settings;
  if (settings.migrator.tool !== 'alembic') return undefined;
  const migrations = await context.migrator().migrations();
  const reverted = migrations.slice(indexOf(migrations, range.to) + 1, indexOf(migrations, range.from) + 1).reverse();
  const session = context.toolSession({ timeoutMs: RENDER_TIMEOUT_MS });
  const rendered: RenderedMigration[] = [];
  for (const step of reverted) {
    const index = migrations.indexOf(step);
    const previous = index > 0 ? (migrations[index - 1]?.id ?? 'base') : 'base';
    const run = await alembicDowngradeSql(alembicInvocation(settings), target, `${step.id}:${previous}`, session);
    if (!run.ok) {
      throw new ToolError(`alembic downgrade --sql failed: ${lastLines(run.stderr || run.stdout) || `exit code ${run.exitCode}`}`, run.stderr, ExitCode.Refused);
    }
    rendered.push({ migration: step.id, sql: run.stdout });
  }
  return rendered;
}

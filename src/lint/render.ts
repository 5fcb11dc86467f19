import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunContext } from '../context.js';
import type { DbTarget } from '../db/target.js';
import { UsageError } from '../errors.js';
import { stateAt } from '../migrators/plan.js';
import type { Migration, RenderedMigration } from '../migrators/types.js';
import { toolVersionTables } from '../migrators/versionTables.js';

export type { RenderedMigration } from '../migrators/types.js';

/** Rendering offline is quick; a tool that hangs here is broken, not slow. */
const RENDER_TIMEOUT_MS = 120_000;

/**
 * The tables the tool keeps its own records in (migrator.versionTable included): statements on them
 * are bookkeeping, never findings. A qualified name is also listed bare, as the SQL may not qualify it.
 */
export function bookkeepingTables(settings: RunContext['settings']): ReadonlySet<string> {
  return new Set(toolVersionTables(settings.migrator).flatMap((table) => [table, table.slice(table.indexOf('.') + 1)]));
}

/**
 * The SQL of each migration of an upgrade range, in the order they run, rendered by the tool's offline mode
 * one migration at a time so every finding names its migration, and a migration that cannot be
 * rendered is marked (`cannotPreview`) while the others are still shown. The command adapter reads
 * `safety.sqlFiles` instead.
 */
export async function renderUpgrades(context: RunContext, target: DbTarget, range: { from: string | null; to: string }): Promise<RenderedMigration[]> {
  const migrator = context.migrator();
  const plan = await migrator.plan(stateAt(await migrator.migrations(), range.from), range.to, 'upgrade');
  return (await renderSteps(context, target, plan.migrations, 'upgrade')) ?? plan.migrations.map((step) => ({ migration: step.id, sql: undefined }));
}

/**
 * The SQL of each migration a downgrade from `from` to `to` (null: base) reverts, in the order it
 * reverts them, or undefined when the tool cannot render a downgrade offline (only Alembic can).
 */
export async function renderDowngrades(context: RunContext, target: DbTarget, range: { from: string; to: string | null }): Promise<RenderedMigration[] | undefined> {
  const migrator = context.migrator();
  const plan = await migrator.plan(stateAt(await migrator.migrations(), range.from), range.to ?? 'base', 'downgrade');
  return renderSteps(context, target, plan.migrations, 'downgrade');
}

async function renderSteps(context: RunContext, target: DbTarget, steps: readonly Migration[], direction: 'upgrade' | 'downgrade'): Promise<RenderedMigration[] | undefined> {
  if (steps.length === 0) return [];
  const session = context.toolSession({ timeoutMs: RENDER_TIMEOUT_MS });
  const rendered = await context.migrator().renderSql(target, steps, direction, session);
  if (rendered) return [...rendered];
  if (direction === 'upgrade' && context.settings.migrator.tool === 'command') {
    return Promise.all(steps.map(async (step) => ({ migration: step.id, sql: await readSqlFile(context, step.id) })));
  }
  return undefined;
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

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { withClient, quoteIdent } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import { RefusedError } from '../errors.js';
import { nodePgMigrateDown, nodePgMigrateUp, type NodePgMigrateInvocation } from '../exec/nodePgMigrate.js';
import type { ProgramRun } from '../exec/process.js';
import { pendingDowngrades, pendingUpgrades, planMigrations } from './plan.js';
import type { Migration, MigrationDirection, MigrationPlan, MigrationState, Migrator, RenderedMigration, ToolSession } from './types.js';

const MIGRATION_FILE = /\.(c|m)?(js|ts)$|\.sql$/;

/** `1700000000000_add-orders` -> `add orders`. */
function describe(id: string): string {
  return id.replace(/^\d+[_-]?/, '').replace(/[-_]+/g, ' ').trim() || id;
}

export class NodePgMigrateMigrator implements Migrator {
  readonly tool = 'node-pg-migrate';

  constructor(private readonly invocation: NodePgMigrateInvocation) {}

  async migrations(): Promise<readonly Migration[]> {
    const dir = path.resolve(this.invocation.cwd, this.invocation.migrationsDir);
    let files: string[];
    try {
      files = await readdir(dir);
    } catch (error) {
      throw new RefusedError(`cannot read the node-pg-migrate migrations directory ${dir}`, { cause: error });
    }
    // node-pg-migrate orders by the numeric prefix, then by name.
    return files
      .filter((file) => !file.startsWith('.') && MIGRATION_FILE.test(file))
      .map((file) => file.replace(/\.[^.]+$/, ''))
      .sort((a, b) => Number(/^\d+/.exec(a)?.[0] ?? 0) - Number(/^\d+/.exec(b)?.[0] ?? 0) || a.localeCompare(b))
      .map((id) => ({ id, description: describe(id) }));
  }

  async state(db: DbTarget, session: ToolSession): Promise<MigrationState> {
    const names = await withClient(db, session.applicationName, async (client) => {
      const exists = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [this.invocation.migrationsTable]);
      if (!exists.rows[0]?.present) return [];
      const result = await client.query<{ name: string }>(`SELECT name FROM ${quoteIdent(this.invocation.migrationsTable)} ORDER BY run_on, id`);
      return result.rows.map((row) => row.name);
    });
    return { current: names.at(-1) ?? null, applied: new Set(names) };
  }

  async plan(state: MigrationState, spec: string, direction: MigrationDirection): Promise<MigrationPlan> {
    return planMigrations(await this.migrations(), state, spec, direction);
  }

  async upgrade(db: DbTarget, target: string, session: ToolSession): Promise<ProgramRun> {
    const count = await this.#count(db, session, (migrations, state) => pendingUpgrades(migrations, state, target).length);
    return count === 0 ? nothingToDo('up') : nodePgMigrateUp(this.invocation, db, count, session);
  }

  async downgrade(db: DbTarget, target: string | null, session: ToolSession): Promise<ProgramRun> {
    const count = await this.#count(db, session, (migrations, state) => pendingDowngrades(migrations, state, target).length);
    return count === 0 ? nothingToDo('down') : nodePgMigrateDown(this.invocation, db, count, session);
  }

  /**
   * node-pg-migrate's dry run always starts at the database's current state and prints every
   * migration's SQL between `### MIGRATION name (UP) ###` markers; it cannot render a downgrade.
   */
  async renderSql(db: DbTarget, steps: readonly Migration[], direction: MigrationDirection, session: ToolSession): Promise<RenderedMigration[] | undefined> {
    if (direction === 'downgrade') return undefined;
    if (steps.length === 0) return [];
    const run = await nodePgMigrateUp(this.invocation, db, steps.length, session, true);
    const sections = run.ok ? splitMarkedOutput(run.stdout, 'UP') : new Map<string, string>();
    return steps.map((step) => ({ migration: step.id, sql: sections.get(step.id) }));
  }

  async #count(db: DbTarget, session: ToolSession, count: (migrations: readonly Migration[], state: MigrationState) => number): Promise<number> {
    const [migrations, state] = await Promise.all([this.migrations(), this.state(db, session)]);
    return count(migrations, state);
  }
}

/** node-pg-migrate reads a count of 0 as "the default", so an empty step is answered here instead. */
function nothingToDo(direction: 'up' | 'down'): ProgramRun {
  return { command: `node-pg-migrate ${direction} (nothing to do)`, exitCode: 0, signal: undefined, stdout: '', stderr: '', durationMs: 0, timedOut: false, cancelled: false, ok: true };
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

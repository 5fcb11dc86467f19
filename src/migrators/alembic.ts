import type { DbTarget } from '../db/target.js';
import { ExitCode, RefusedError, ToolError, UsageError } from '../errors.js';
import { alembicCurrent, alembicDowngrade, alembicUpgrade, type AlembicInvocation } from '../exec/alembic.js';
import { alembicGraph, alembicOrder, alembicRender, type AlembicGraph } from '../exec/alembicScript.js';
import { alembicSession } from '../exec/alembicSession.js';
import { failureSummary, type ProgramRun } from '../exec/process.js';
import { planMigrations, singleHead, stateAt } from './plan.js';
import type { Migration, MigrationDirection, MigrationPlan, MigrationState, Migrator, RenderedMigration, ToolSession } from './types.js';

/** `alembic current` prints `rev (head)`; nothing when the database is at base. */
export function parseAlembicCurrent(stdout: string): string | null {
  const revisions = stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((token) => /^[\w.-]+$/.test(token));
  if (revisions.length > 1) throw new RefusedError(`the database has several alembic heads applied (${revisions.join(', ')})`);
  return revisions[0] ?? null;
}

/**
 * The history as orchestrate uses it: oldest first with each revision's parents. Branches and merge
 * revisions are normal; several heads are not (an upgrade to "head" would be ambiguous).
 */
export function historyOf(graph: AlembicGraph): Migration[] {
  if (graph.heads.length > 1) {
    throw new UsageError(`the alembic history has ${graph.heads.length} heads (${graph.heads.join(', ')}): orchestrate upgrades to one head`, {
      hint: `merge them first: alembic merge -m "merge heads" ${graph.heads.join(' ')}`,
    });
  }
  return graph.revisions.map(({ id, parents, description }) => ({ id, description, parents }));
}

function requireSuccess(run: ProgramRun, what: string): ProgramRun {
  if (!run.ok) {
    const why = run.timedOut ? 'timed out' : failureSummary(run.stderr || run.stdout) || `exit code ${run.exitCode}`;
    throw new ToolError(`${what} failed: ${why}`, run.stderr, ExitCode.Refused);
  }
  return run;
}

export class AlembicMigrator implements Migrator {
  readonly tool = 'alembic';
  #migrations: Promise<readonly Migration[]> | undefined;
  /** Alembic's order depends only on the scripts, the start and the target: the plan and the analysis ask alike. */
  readonly #orders = new Map<string, Promise<string[]>>();

  constructor(private readonly invocation: AlembicInvocation) {
    // The interpreter imports Alembic while orchestrate does its own first work; the first question then waits less.
    void alembicSession(invocation);
  }

  migrations(): Promise<readonly Migration[]> {
    this.#migrations ??= alembicGraph(this.invocation).then(historyOf);
    return this.#migrations;
  }

  async state(db: DbTarget, session: ToolSession): Promise<MigrationState> {
    const [migrations, run] = await Promise.all([this.migrations(), alembicCurrent(this.invocation, db, session)]);
    return stateAt(migrations, parseAlembicCurrent(requireSuccess(run, 'alembic current').stdout));
  }

  /** The target resolved as for any tool; the order is Alembic's own for that range. */
  async plan(state: MigrationState, spec: string, direction: MigrationDirection): Promise<MigrationPlan> {
    const migrations = await this.migrations();
    const planned = planMigrations(migrations, state, spec, direction);
    if (planned.migrations.length === 0) return planned;
    const key = JSON.stringify([direction, state.current, planned.to]);
    let asked = this.#orders.get(key);
    if (!asked) {
      asked = alembicOrder(this.invocation, direction, state.current, planned.to ?? 'base');
      this.#orders.set(key, asked);
    }
    const order = await asked;
    const byId = new Map(migrations.map((migration) => [migration.id, migration]));
    const steps = order.map((id) => byId.get(id)).filter((migration): migration is Migration => migration !== undefined);
    return singleHead(migrations, state, { to: planned.to, migrations: steps }, direction);
  }

  upgrade(db: DbTarget, target: string, session: ToolSession): Promise<ProgramRun> {
    return alembicUpgrade(this.invocation, db, target, session);
  }

  downgrade(db: DbTarget, target: string | null, session: ToolSession): Promise<ProgramRun> {
    return alembicDowngrade(this.invocation, db, target ?? 'base', session);
  }

  async renderSql(db: DbTarget, steps: readonly Migration[], direction: MigrationDirection, session: ToolSession): Promise<RenderedMigration[]> {
    const rendered = await alembicRender(this.invocation, direction, steps.map((step) => step.id), db, session);
    return rendered.map((entry) => ('sql' in entry ? { migration: entry.id, sql: entry.sql } : { migration: entry.id, sql: undefined, cannotPreview: entry.error }));
  }
}

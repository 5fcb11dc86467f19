import type { DbTarget } from '../db/target.js';
import { ExitCode, RefusedError, ToolError } from '../errors.js';
import { runTemplate, type CommandInvocation } from '../exec/commandTemplate.js';
import { lastLines, type ProgramRun } from '../exec/process.js';
import { planMigrations, stateAt } from './plan.js';
import type { Migration, MigrationDirection, MigrationPlan, MigrationState, Migrator, ToolSession } from './types.js';

export interface CommandTemplates {
  readonly upgrade: readonly string[];
  readonly downgrade: readonly string[];
  readonly current: readonly string[];
  readonly list?: readonly string[] | undefined;
}

const BASE_WORDS = new Set(['', 'base', 'none', 'null']);

/** Any other migration tool, driven by argv templates from the config file. */
export class CommandMigrator implements Migrator {
  readonly tool = 'command';
  #migrations: Promise<readonly Migration[]> | undefined;

  constructor(
    private readonly invocation: CommandInvocation,
    private readonly templates: CommandTemplates,
  ) {}

  migrations(): Promise<readonly Migration[]> {
    const list = this.templates.list;
    if (!list) {
      return Promise.reject(new RefusedError('migrator.commands.list is not configured: orchestrate cannot tell which migrations exist'));
    }
    this.#migrations ??= runTemplate(this.invocation, list, {}, undefined, undefined).then((run) => {
      if (!run.ok) throw new ToolError(`migration list command failed: ${lastLines(run.stderr || run.stdout)}`, run.stderr, ExitCode.Refused);
      return run.stdout
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line.length > 0)
        .map((line) => {
          const [id = '', ...rest] = line.split(/\s+/);
          return { id, description: rest.join(' ') };
        });
    });
    return this.#migrations;
  }

  async state(db: DbTarget, session: ToolSession): Promise<MigrationState> {
    const run = await runTemplate(this.invocation, this.templates.current, {}, db, session);
    if (!run.ok) throw new ToolError(`current-revision command failed: ${lastLines(run.stderr || run.stdout)}`, run.stderr, ExitCode.Refused);
    const first = run.stdout.split('\n').map((line) => line.trim()).find((line) => line.length > 0) ?? '';
    const current = BASE_WORDS.has(first.toLowerCase()) ? null : (first.split(/\s+/)[0] ?? null);
    if (!this.templates.list) return { current, applied: new Set(current ? [current] : []) };
    return stateAt(await this.migrations(), current);
  }

  async plan(state: MigrationState, spec: string, direction: MigrationDirection): Promise<MigrationPlan> {
    return planMigrations(await this.migrations(), state, spec, direction);
  }

  upgrade(db: DbTarget, target: string, session: ToolSession): Promise<ProgramRun> {
    return runTemplate(this.invocation, this.templates.upgrade, { target }, db, session, 'migration');
  }

  downgrade(db: DbTarget, target: string | null, session: ToolSession): Promise<ProgramRun> {
    return runTemplate(this.invocation, this.templates.downgrade, { target: target ?? 'base' }, db, session, 'migration');
  }

  /** The SQL comes from safety.sqlFiles, read by the safety analysis; the tool cannot render any. */
  renderSql(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}

import type { DbTarget } from '../db/target.js';
import { ExitCode, RefusedError, ToolError } from '../errors.js';
import {
  alembicCurrent,
  alembicDowngrade,
  alembicHistory,
  alembicUpgrade,
  alembicUpgradeSql,
  type AlembicInvocation,
} from '../exec/alembic.js';
import { failureSummary, type ProgramRun } from '../exec/process.js';
import { linearState } from './plan.js';
import type { Migration, MigrationState, Migrator, ToolSession } from './types.js';

// `<down> -> <rev> (head), message` as printed by `alembic history`; merges print `(a, b) -> rev`.
const HISTORY_LINE = /^(?<down>\([^)]*\)|\S+) -> (?<rev>\S+)(?<flags>(?: \([a-z ]+\))*), ?(?<message>.*)$/;

export function parseAlembicHistory(stdout: string): Migration[] {
  const newestFirst: { id: string; down: string; description: string }[] = [];
  for (const line of stdout.split('\n')) {
    const match = HISTORY_LINE.exec(line.trim());
    if (!match?.groups) continue;
    const { down = '', rev = '', flags = '', message = '' } = match.groups;
    if (down.startsWith('(') || flags.includes('branchpoint') || flags.includes('mergepoint')) {
      throw new RefusedError(`alembic history branches at ${rev}: orchestrate supports one linear line of revisions`, {
        hint: 'merge the branches (alembic merge) first',
      });
    }
    newestFirst.push({ id: rev, down, description: message });
  }
  return newestFirst.reverse().map(({ id, description }) => ({ id, description }));
}

/** `alembic current` prints `rev (head)`; nothing when the database is at base. */
export function parseAlembicCurrent(stdout: string): string | null {
  const revisions = stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((token) => /^[\w.-]+$/.test(token));
  if (revisions.length > 1) throw new RefusedError(`the database has several alembic heads applied (${revisions.join(', ')})`);
  return revisions[0] ?? null;
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

  constructor(private readonly invocation: AlembicInvocation) {}

  migrations(): Promise<readonly Migration[]> {
    this.#migrations ??= alembicHistory(this.invocation).then((run) => parseAlembicHistory(requireSuccess(run, 'alembic history').stdout));
    return this.#migrations;
  }

  async state(db: DbTarget, session: ToolSession): Promise<MigrationState> {
    const [migrations, run] = await Promise.all([this.migrations(), alembicCurrent(this.invocation, db, session)]);
    return linearState(migrations, parseAlembicCurrent(requireSuccess(run, 'alembic current').stdout));
  }

  upgrade(db: DbTarget, target: string, session: ToolSession): Promise<ProgramRun> {
    return alembicUpgrade(this.invocation, db, target, session);
  }

  downgrade(db: DbTarget, target: string | null, session: ToolSession): Promise<ProgramRun> {
    return alembicDowngrade(this.invocation, db, target ?? 'base', session);
  }

  async renderSql(db: DbTarget, from: string | null, to: string, session: ToolSession): Promise<string> {
    const run = await alembicUpgradeSql(this.invocation, db, `${from ?? 'base'}:${to}`, session);
    return requireSuccess(run, 'alembic upgrade --sql').stdout;
  }
}

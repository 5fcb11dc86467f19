import type { DbTarget } from '../db/target.js';
import type { ProgramRun } from '../exec/process.js';

export type MigratorTool = 'alembic' | 'node-pg-migrate' | 'command';

export interface Migration {
  readonly id: string;
  readonly description: string;
  /** The revisions this one follows (two or more for a merge); absent: the one before it in the list. */
  readonly parents?: readonly string[];
}

export type MigrationDirection = 'upgrade' | 'downgrade';

/** What an upgrade or downgrade to a target would do from a given state. */
export interface MigrationPlan {
  /** The revision the database will be at afterwards (null: base). */
  readonly to: string | null;
  /** In the order the tool runs them: for upgrades parents before children, for downgrades the reverse. */
  readonly migrations: readonly Migration[];
}

/** The SQL one migration would run, without running it. */
export interface RenderedMigration {
  readonly migration: string;
  /** Undefined when the tool cannot show SQL at all, or could not for this migration (see cannotPreview). */
  readonly sql: string | undefined;
  /** Why this one migration could not be rendered offline (it reads the database while running, say). */
  readonly cannotPreview?: string;
}

/** What the tool says the database has applied. `current` is null when nothing is (base). */
export interface MigrationState {
  readonly current: string | null;
  readonly applied: ReadonlySet<string>;
}

/** How a tool run against a database is tagged and limited. */
export interface ToolSession {
  /** application_name of every connection the tool opens (via PGAPPNAME). */
  readonly applicationName: string;
  /** Server-side lock_timeout for the tool's sessions (via PGOPTIONS). */
  readonly lockTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  /** client_connection_check_interval; only for servers that know it (14+): older ones refuse the connection. */
  readonly connectionCheckIntervalMs?: number;
  /** Wall-clock limit for the tool process. */
  readonly timeoutMs?: number;
  readonly cancelSignal?: AbortSignal;
  /** Live output of the tool, for the log. */
  readonly onOutput?: (chunk: string) => void;
}

/**
 * One migration tool behind one interface. Every method that touches a database takes it as an
 * argument, so the same migration runs against production and against a scratch copy.
 * Migrations are listed oldest first, every one after its parents; a history may branch and merge
 * but must end in one head (the adapters refuse several).
 */
export interface Migrator {
  readonly tool: MigratorTool;
  /** Every migration the project defines, oldest first. */
  migrations(): Promise<readonly Migration[]>;
  state(db: DbTarget, session: ToolSession): Promise<MigrationState>;
  /** Resolves `spec` (head, base, an id or prefix, -1/+2) from `state` into the migrations that would run. */
  plan(state: MigrationState, spec: string, direction: MigrationDirection): Promise<MigrationPlan>;
  /** Applies migrations up to and including `target`. */
  upgrade(db: DbTarget, target: string, session: ToolSession): Promise<ProgramRun>;
  /** Reverts migrations until `target` is the newest applied one (null: revert everything). */
  downgrade(db: DbTarget, target: string | null, session: ToolSession): Promise<ProgramRun>;
  /**
   * Each migration's SQL, without running it: `steps` are a plan's migrations in run order, starting
   * from the database's current state. Undefined where the tool cannot render offline.
   */
  renderSql(db: DbTarget, steps: readonly Migration[], direction: MigrationDirection, session: ToolSession): Promise<readonly RenderedMigration[] | undefined>;
}

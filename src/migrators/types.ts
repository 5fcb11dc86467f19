import type { DbTarget } from '../db/target.js';
import type { ProgramRun } from '../exec/process.js';

export type MigratorTool = 'alembic' | 'node-pg-migrate' | 'command';

export interface Migration {
  readonly id: string;
  readonly description: string;
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
 * Migrations form one ordered line, oldest first; branching histories are refused by the adapters.
 */
export interface Migrator {
  readonly tool: MigratorTool;
  /** Every migration the project defines, oldest first. */
  migrations(): Promise<readonly Migration[]>;
  state(db: DbTarget, session: ToolSession): Promise<MigrationState>;
  /** Applies migrations up to and including `target`. */
  upgrade(db: DbTarget, target: string, session: ToolSession): Promise<ProgramRun>;
  /** Reverts migrations until `target` is the newest applied one (null: revert everything). */
  downgrade(db: DbTarget, target: string | null, session: ToolSession): Promise<ProgramRun>;
  /** The SQL an upgrade from `from` to `to` would run, without running it; undefined where the tool cannot. */
  renderSql(db: DbTarget, from: string | null, to: string, session: ToolSession): Promise<string | undefined>;
}

import type { BackupManifest } from '../backup/index.js';
import type { RunContext } from '../context.js';
import type { DbTarget } from '../db/target.js';
import type { TableLockTrace } from '../db/locks.js';
import type { ProgramRun } from '../exec/process.js';
import type { Revision } from '../migrators/plan.js';
import type { Migration, Migrator } from '../migrators/types.js';
import type { TableActivity } from '../validation/data.js';
import type { CheckResult } from '../validation/checks.js';
import type { SchemaFingerprint } from '../validation/fingerprint.js';
import type { DestructiveChange, LintFinding, RenderedMigration } from '../lint/index.js';
import type { RunRecorder } from './recorder.js';
import type { RunLock } from './runLock.js';
import type { Snapshot } from './snapshot.js';

export type Direction = 'upgrade' | 'downgrade';

export interface MigrationRunOptions {
  readonly command: 'upgrade' | 'downgrade' | 'rollback';
  readonly direction: Direction;
  readonly targetSpec: string;
  readonly dryRun: boolean;
  readonly skipBackup: boolean;
  readonly skipRehearsal: boolean;
  readonly force: boolean;
  readonly reason: string | undefined;
}

export interface Plan {
  readonly from: Revision;
  readonly to: Revision;
  /** In the order they run: oldest first for upgrades, newest first for downgrades. */
  readonly migrations: readonly Migration[];
}

/** A tool run as the report keeps it: the tail of each output (the failing statement is at the end; the log has it all). */
export interface ToolRunRecord {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly durationMs: number;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  readonly stdout: string;
  readonly stderr: string;
  /** Output before the kept tail, left out; absent when nothing was. */
  readonly droppedBytes?: { readonly stdout: number; readonly stderr: number };
}

export function toolRunRecord(run: ProgramRun): ToolRunRecord {
  return {
    command: run.command,
    exitCode: run.exitCode,
    durationMs: run.durationMs,
    timedOut: run.timedOut,
    cancelled: run.cancelled,
    stdout: run.stdout,
    stderr: run.stderr,
    ...(run.droppedBytes ? { droppedBytes: run.droppedBytes } : {}),
  };
}

export interface RehearsalRecord {
  readonly database: string;
  readonly restoreMs: number;
  readonly migrateMs: number;
  readonly tool: ToolRunRecord;
  readonly locks: readonly TableLockTrace[];
  readonly rewrittenTables: readonly string[];
  readonly rowEstimates: Readonly<Record<string, number>>;
  readonly validation: readonly CheckResult[];
  /** The scratch copy right after the restore, before the migration. */
  readonly fingerprintBefore: SchemaFingerprint;
  readonly fingerprintAfter: SchemaFingerprint;
  /** Tables and columns the migration dropped and types it narrowed on the copy, with the copy's rows. */
  readonly destroyed: readonly DestructiveChange[];
}

export interface RollbackRecord {
  path: 'downgrade' | 'restore' | 'none';
  verified: boolean;
  attempts: string[];
  differences: string[];
  /** Rows written since the backup that a restore discards (pg_stat_user_tables deltas). */
  dataLossWindow?: Record<string, TableActivity>;
  /** What a person should run next when the orchestrator could not finish the job. */
  nextCommand?: string;
  keptFailedDatabase?: string;
  /** The restore copy beside production, when one was made: prepared during the downgrade or after it. */
  restoreCopy?: RestoreCopyRecord;
}

export interface RestoreCopyRecord {
  readonly database: string;
  /** Restored while the downgrade was tried (rollback.overlapRestore), not after it failed. */
  readonly overlapped: boolean;
  /** From the start of the checksum to the copy restored (or its preparation failing). */
  readyAfterMs?: number;
  outcome?: 'swapped' | 'dropped' | 'failed';
  problem?: string;
}

/** Application names of this run's sessions, distinct so cancelling the tool never cancels our own. */
export interface SessionNames {
  /** Production tool sessions: the ones a timeout cancels. */
  readonly tool: string;
  readonly rehearsal: string;
  readonly lock: string;
  readonly inspect: string;
}

export interface MigrationRunState {
  readonly context: RunContext;
  readonly options: MigrationRunOptions;
  readonly target: DbTarget;
  readonly migrator: Migrator;
  readonly recorder: RunRecorder;
  readonly names: SessionNames;
  /** Aborted by SIGINT/SIGTERM: the running tool is stopped and the run rolls back. */
  readonly interrupt: AbortController;
  readonly warnings: string[];
  serverVersionNum?: number;
  plan?: Plan;
  before?: Snapshot;
  lock?: RunLock;
  /** Set when the production migration is started: from then on a lost lock is reported, not a reason to stop. */
  productionTouched?: boolean;
  /** What happened to the run lock after production was touched (lost, taken again or not), for the report. */
  readonly lockLosses: string[];
  backup?: BackupManifest;
  scratch?: { readonly db: DbTarget; readonly admin: DbTarget };
  rehearsal?: RehearsalRecord;
  production?: ToolRunRecord;
  validation?: CheckResult[];
  rollback?: RollbackRecord;
  /** The safety analysis: static findings, destructive changes with row counts, code references, and the rehearsal's measured findings. */
  findings: LintFinding[];
  preflightChecks?: readonly CheckResult[];
  destructive?: readonly DestructiveChange[];
  /** Each pending migration's offline SQL (upgrades), as the safety analysis rendered it. */
  rendered?: readonly RenderedMigration[];
}

/** A fresh state for one run of the pipeline (or of its read-only parts: dry run, rehearsal for lint). */
export function newRunState(context: RunContext, options: MigrationRunOptions, recorder: RunRecorder): MigrationRunState {
  const name = context.applicationName;
  return {
    context,
    options,
    target: context.target(),
    migrator: context.migrator(),
    recorder,
    names: { tool: name, rehearsal: `${name}/rehearsal`, lock: `${name}/lock`, inspect: `${name}/inspect` },
    interrupt: new AbortController(),
    warnings: [],
    lockLosses: [],
    findings: [],
  };
}

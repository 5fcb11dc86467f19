import cron from 'node-cron';
import { z } from 'zod';
import { SQUAWK_RULES } from '../lint/severities.js';
import { ENVIRONMENTS } from './constants.js';

export { ENVIRONMENTS, MAX_REASON_LENGTH, type Environment } from './constants.js';

/**
 * The configuration file's shape, with every default in one place. Objects are strict: an unknown key
 * is an error, because a misspelt safety setting silently falling back to its default is exactly the
 * kind of surprise this tool exists to prevent.
 */
const commandTemplate = z.array(z.string().min(1)).min(1);

/**
 * Every number's range is checked here, once. Durations end up in Node timers, which fire at once (with
 * a warning) past 2^31-1 ms, about 24.8 days; counts must stay exact integers.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);
/** A century: retention and housekeeping ages beyond it are a typo, and Date arithmetic overflows long before 1e308. */
const MAX_DAYS = 36_500;

const TOO_LONG_MS = `at most ${MAX_TIMER_MS} ms (24.8 days), the longest a Node timer can wait`;
const TOO_LONG_SECONDS = `at most ${MAX_TIMER_SECONDS} seconds (24.8 days), the longest a Node timer can wait`;
/** Whole milliseconds a timer can wait. */
const milliseconds = (min: number) => z.number().int().min(min).max(MAX_TIMER_MS, TOO_LONG_MS);
/** Seconds (fractions allowed) a timer can wait. */
const seconds = () => z.number().min(0).max(MAX_TIMER_SECONDS, TOO_LONG_SECONDS);
const positiveSeconds = () => z.number().positive().max(MAX_TIMER_SECONDS, TOO_LONG_SECONDS);
const days = () => z.number().min(0).max(MAX_DAYS, `at most ${MAX_DAYS} days`);
/** A whole count; int() also keeps it within the safe integers, where arithmetic stays exact. */
const count = (min: number) => z.number().int().min(min);

/** An IANA time zone name this Node knows (`Europe/Berlin`, `UTC`). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const migratorSchema = z.strictObject({
  tool: z.enum(['alembic', 'node-pg-migrate', 'command']).default('alembic'),
  /** Where the tool runs; relative to the config file. */
  cwd: z.string().default('.'),
  /** Environment variable through which the tool receives the target database URL. */
  urlEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').default('DATABASE_URL'),
  /**
   * alembic and command: the scheme of the URL in urlEnv (default postgresql). `postgresql+asyncpg`
   * for a project whose settings pass that URL to SQLAlchemy's async engine as it is.
   */
  urlScheme: z.string().regex(/^postgres(ql)?(\+[a-z0-9_]+)?$/, 'must be postgresql or postgresql+<driver>, e.g. postgresql+asyncpg').optional(),
  /** The program (and leading arguments) to run: `["alembic"]`, `["python", "-m", "alembic"]`, `["npx", "node-pg-migrate"]`. */
  executable: commandTemplate.optional(),
  /** node-pg-migrate: the migrations directory, relative to `cwd`. */
  migrationsDir: z.string().default('migrations'),
  /** node-pg-migrate: its bookkeeping table. */
  migrationsTable: z.string().default('pgmigrations'),
  /**
   * alembic and command: the table the tool keeps its revision in, `table` or `schema.table`. Alembic's
   * default is alembic_version; set this when env.py passes its own version_table (the proof of where
   * the tool connects reads it). Its rows are the tool's bookkeeping, never counted as data at risk.
   */
  versionTable: z.string().regex(/^[^.]+(\.[^.]+)?$/, 'must be "table" or "schema.table"').optional(),
  /** command adapter: argv templates; `{target}` is replaced by the resolved revision. */
  commands: z
    .strictObject({
      upgrade: commandTemplate,
      downgrade: commandTemplate,
      current: commandTemplate,
      /** Prints the known revisions oldest first, one per line: `<id> <description>`. */
      list: commandTemplate.optional(),
    })
    .optional(),
});

const backupSchema = z.strictObject({
  format: z.enum(['custom', 'directory']).default('custom'),
  /** pg_dump -Z; 1 is several times faster than the default 6 for nearly the same size on text-heavy data. */
  compressionLevel: z.number().int().min(0).max(9).default(1),
  /** Parallel dump jobs for the directory format, and parallel restore jobs for both. */
  jobs: z.number().int().min(1).max(64).default(2),
  /** pg_dump --lock-wait-timeout: a backup never queues forever behind an exclusive lock. */
  lockWaitTimeoutMs: milliseconds(1).default(30_000),
  retentionDays: days().default(30),
  keepLast: count(1).default(3),
  /** Free space required in the backup directory, as a multiple of pg_database_size. */
  sizeFactor: z.number().positive().default(1.0),
  /** How often a dump or restore logs a progress line when stderr is not a terminal. */
  progressIntervalSeconds: positiveSeconds().default(10),
  /** nice level of pg_dump and the rehearsal's pg_restore (0: unchanged); server backends are not affected. */
  niceness: z.number().int().min(0).max(19).default(0),
  /** ionice class of pg_dump and the rehearsal's pg_restore: normal (unchanged), best-effort (level 7), idle. */
  ioPriority: z.enum(['normal', 'best-effort', 'idle']).default('normal'),
});

const restoreSchema = z.strictObject({
  /** --no-owner --no-acl: a restore as a non-superuser cannot recreate roles or grants it does not have. */
  noOwner: z.boolean().default(true),
});

export const pipelineSchema = z.strictObject({
  timeoutSeconds: positiveSeconds().default(300),
  lockTimeoutMs: milliseconds(1).default(5000),
  /** Retries of a migration that failed on lock_timeout and provably changed nothing (README: Lock timeouts); 0 turns them off. */
  lockRetries: z.number().int().min(0).max(20).default(5),
  /** Transactions open longer than this on the target are reported in preflight: they would block DDL. */
  longTransactionSeconds: seconds().default(60),
  /** How long to wait for the run lock before giving up with exit 4. */
  lockWaitSeconds: seconds().default(0),
});

const rehearsalSchema = z.strictObject({
  /** A server for the scratch copy; default: a new database on the target's own server. */
  scratchUrl: z.string().optional(),
});

const validationSchema = z.strictObject({
  criticalTables: z.array(z.string()).default([]),
  smokeQueries: z.array(z.string()).default([]),
  allowNotValidConstraints: z.boolean().default(false),
  allowInvalidIndexes: z.boolean().default(false),
});

const rollbackSchema = z.strictObject({
  /** Restore from the backup when the downgrade fails: auto, confirm (production default), never. */
  restore: z.enum(['auto', 'confirm', 'never']).optional(),
  /**
   * With restore "auto" and a backup: restore the copy beside production while the downgrade is tried,
   * so a failed downgrade is followed at once by the swap (README: Rollback). Off: restore after it.
   */
  overlapRestore: z.boolean().default(true),
  /** A database replaced by a restore is kept as `<db>_failed_<run>` this long; then the daemon's retention job drops it. */
  keepFailedDays: z.number().positive().max(3650).default(7),
});

const toolsSchema = z.strictObject({
  /** Directory holding pg_dump and pg_restore; default: the first on PATH. */
  pgBinDir: z.string().optional(),
});

/** A node-cron expression: five fields, or six with seconds first. */
const cronExpression = z.string().refine((value) => cron.validate(value), 'must be a cron expression (5 fields, or 6 with seconds first)');

/** One scheduled job of `orchestrate daemon`. */
function daemonJob(schedule: string, enabled: boolean) {
  return z.strictObject({
    enabled: z.boolean().default(enabled),
    schedule: cronExpression.default(schedule),
    /** Also run once as soon as the daemon starts. */
    runOnStart: z.boolean().default(false),
  });
}

const retentionJob = daemonJob('0 3 * * *', true);
const backupJob = daemonJob('0 2 * * *', false).extend({
  /** Read the new archive whole after taking it, so /metrics can report the age of the newest verified backup. */
  verify: z.boolean().default(true),
});
const pendingCheckJob = daemonJob('*/15 * * * *', true);
const housekeepingJob = daemonJob('30 3 * * *', true).extend({
  /** Logs and reports older than this are bundled into a .tar.gz and removed. */
  olderThanDays: days().positive().default(30),
});

const daemonJobsSchema = z.strictObject({
  retention: retentionJob.default(retentionJob.parse({})),
  backup: backupJob.default(backupJob.parse({})),
  pendingCheck: pendingCheckJob.default(pendingCheckJob.parse({})),
  housekeeping: housekeepingJob.default(housekeepingJob.parse({})),
});

export const daemonSchema = z.strictObject({
  /** Loopback by default: /metrics and /runs describe production and are not for the whole network. */
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port (printed at start). */
  port: z.number().int().min(0).max(65535).default(9477),
  /** Environment variable holding the bearer token the endpoints require; unset or empty: no token. */
  tokenEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').default('ORCHESTRATE_DAEMON_TOKEN'),
  /** On SIGTERM, how long a running job may take to finish before it is cancelled. */
  graceSeconds: seconds().default(60),
  /** /healthz gives the database this long to answer SELECT 1. */
  healthTimeoutMs: milliseconds(100).default(5000),
  /** IANA time zone of the schedules; default: the machine's. */
  timezone: z.string().refine(isTimeZone, 'must be an IANA time zone name, e.g. Europe/Berlin or UTC').optional(),
  jobs: daemonJobsSchema.default(daemonJobsSchema.parse({})),
});

const notificationsSchema = z.strictObject({
  /** Each gets a JSON POST when a run fails, is rolled back or needs a human. */
  webhooks: z.array(z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })).default([]),
  /** Also POST when a run succeeds. */
  onSuccess: z.boolean().default(false),
  /** Per attempt. */
  timeoutMs: milliseconds(100).default(5000),
  /** Further attempts after the first fails (network error, timeout, 408, 429 or 5xx). */
  retries: z.number().int().min(0).max(10).default(2),
  /** Wait before the first retry; doubled for each later one. */
  backoffMs: milliseconds(0).default(1000),
  /** Hard ceiling on the time a run spends notifying, whatever the retries. */
  budgetMs: milliseconds(100).default(15_000),
});

const policySchema = z.strictObject({
  /** Seed 004's checklist: "doesn't lock tables for > 1 second". Longer ACCESS EXCLUSIVE locks in the rehearsal block production. */
  lockBudgetMs: milliseconds(0).default(1000),
  /** A rehearsal that rewrites a table with more rows than this blocks production. */
  rewriteRowLimit: count(0).default(100_000),
  /** squawk rule -> block | warn | info | off, over the built-in table of docs/safety.md. */
  severities: z.partialRecord(z.enum(SQUAWK_RULES), z.enum(['block', 'warn', 'info', 'off'])).default({}),
});

const safetySchema = z.strictObject({
  /** Source directories (relative to the config file) searched for names a migration drops or renames. */
  sourceDirs: z.array(z.string().min(1)).default([]),
  /** Severity of a dropped or renamed name still mentioned in the sources. */
  codeReferences: z.enum(['warn', 'block']).default('warn'),
  /** File or directory names, or paths relative to the config file, the reference search skips (e.g. the migrations). */
  ignore: z.array(z.string().min(1)).default([]),
  /** Larger files are skipped by the reference search (generated bundles, data files). */
  maxFileBytes: count(1).default(1_048_576),
  /** Tables whose estimated row count is at most this are counted exactly for the destructive analysis. */
  exactCountLimit: count(0).default(1_000_000),
  /** command adapter: migration id -> the SQL file it runs (relative to migrator.cwd), for the static lint. */
  sqlFiles: z.record(z.string().min(1), z.string().min(1)).default({}),
});

/** Thresholds of the preflight checks (src/preflight/); long transactions use pipeline.longTransactionSeconds. */
const preflightSchema = z.strictObject({
  /** Sessions idle inside a transaction for at least this long are listed: they hold their locks while doing nothing. */
  idleInTransactionSeconds: seconds().default(5),
  /** What the sessions checks report when they list a session that would block DDL. */
  blockingSessions: z.enum(['warn', 'fail']).default('warn'),
  /** A replica replaying further behind than this is a warning. */
  maxReplicationLagSeconds: seconds().default(30),
});

export const configFileSchema = z.strictObject({
  databaseUrl: z.string().optional(),
  env: z.enum(ENVIRONMENTS).optional(),
  backupDir: z.string().optional(),
  logDir: z.string().optional(),
  reportDir: z.string().optional(),
  migrator: migratorSchema.default(migratorSchema.parse({})),
  backup: backupSchema.default(backupSchema.parse({})),
  restore: restoreSchema.default(restoreSchema.parse({})),
  pipeline: pipelineSchema.default(pipelineSchema.parse({})),
  rehearsal: rehearsalSchema.default(rehearsalSchema.parse({})),
  validation: validationSchema.default(validationSchema.parse({})),
  rollback: rollbackSchema.default(rollbackSchema.parse({})),
  tools: toolsSchema.default(toolsSchema.parse({})),
  daemon: daemonSchema.default(daemonSchema.parse({})),
  notifications: notificationsSchema.default(notificationsSchema.parse({})),
  policy: policySchema.default(policySchema.parse({})),
  safety: safetySchema.default(safetySchema.parse({})),
  preflight: preflightSchema.default(preflightSchema.parse({})),
});

export type ConfigFile = z.infer<typeof configFileSchema>;
export type MigratorConfig = z.infer<typeof migratorSchema>;
export type BackupConfig = z.infer<typeof backupSchema>;
export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type ValidationConfig = z.infer<typeof validationSchema>;
export type DaemonConfig = z.infer<typeof daemonSchema>;
export type NotificationsConfig = z.infer<typeof notificationsSchema>;
export type PolicyConfig = z.infer<typeof policySchema>;
export type SafetyConfig = z.infer<typeof safetySchema>;
export type PreflightConfig = z.infer<typeof preflightSchema>;

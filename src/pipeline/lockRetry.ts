import { setTimeout as sleep } from 'node:timers/promises';
import { describeBlocker, startBlockerWatch, type Blocker } from '../db/blockers.js';
import type { DbTarget } from '../db/target.js';
import type { ProgramRun } from '../exec/process.js';
import type { CheckResult } from '../validation/checks.js';
import type { SchemaFingerprint } from '../validation/fingerprint.js';
import { compareWithSnapshot } from './snapshot.js';
import type { MigrationRunState } from './state.js';
import { liveClientCheck, runTool, stopToolBackends } from './toolStep.js';

/**
 * Lock-timeout retries, after GitLab's `with_lock_retries`: a DDL statement waiting for its lock
 * blocks every query queued behind it, so each attempt gets a short lock_timeout first (the queue
 * never waits long) and a longer one next time, with jittered pauses between attempts that give the
 * blocker time to finish. A lock timeout inside a transaction rolled everything back, so the same
 * command can run again; a migration that committed anything before timing out cannot, and is not.
 */

/** lock_timeout of the first attempts never goes below this: shorter ones fail on ordinary catalog contention. */
const MIN_LOCK_TIMEOUT_MS = 100;
/** Pause before retry k (1-based) is about BASE_WAIT_MS * 2^(k-1), jittered by ±50 %. */
const BASE_WAIT_MS = 250;

export interface LockAttempt {
  readonly attempt: number;
  readonly lockTimeoutMs: number;
  /** Pause before this attempt (0 for the first). */
  readonly waitedBeforeMs: number;
  readonly durationMs: number;
  readonly outcome: 'succeeded' | 'lock timeout' | 'failed';
  /** Who blocked the tool's sessions during this attempt, longest first. */
  readonly blockers: readonly Blocker[];
}

/** lock_timeout of each attempt: doubling up to `ceilingMs` (the last attempt gets the ceiling itself). */
export function lockTimeoutSchedule(retries: number, ceilingMs: number): number[] {
  const attempts = Math.max(0, Math.floor(retries)) + 1;
  return Array.from({ length: attempts }, (_, index) => {
    const halvings = attempts - 1 - index;
    return Math.max(Math.min(MIN_LOCK_TIMEOUT_MS, ceilingMs), Math.round(ceilingMs / 2 ** halvings));
  });
}

/** The pause before retry `retry` (1-based), jittered so that several waiting writers do not retry in step. */
export function retryWaitMs(retry: number, random: () => number = Math.random): number {
  return Math.round(BASE_WAIT_MS * 2 ** (retry - 1) * (0.5 + random()));
}

// psycopg2.errors.LockNotAvailable, node-postgres/psql "canceling statement due to lock timeout", SQLSTATE 55P03, NOWAIT's message.
const LOCK_TIMEOUT_OUTPUT = /LockNotAvailable|lock timeout|\b55P03\b|could not obtain lock on/i;

/** True when the tool failed because a lock_timeout (or NOWAIT) expired, not for any other reason. */
export function failedOnLockTimeout(run: ProgramRun): boolean {
  return !run.ok && !run.timedOut && !run.cancelled && LOCK_TIMEOUT_OUTPUT.test(`${run.stderr}\n${run.stdout}`);
}

/**
 * Why a migration's rendered SQL is not one or more plain transactions, or undefined when it is:
 * statements outside BEGIN ... COMMIT (Alembic's autocommit_block renders COMMIT, the statements,
 * then BEGIN), CREATE INDEX CONCURRENTLY and its kin (they cannot run in a transaction and leave an
 * invalid index behind when they fail), VACUUM. Line-based: a multi-line statement inside a
 * transaction is fine whatever its lines look like.
 */
export function nonTransactionalReason(sql: string): string | undefined {
  const concurrent = /\b(CREATE|DROP)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b|\bREINDEX\b[^;]*\bCONCURRENTLY\b|\bDETACH\s+PARTITION\b[^;]*\bCONCURRENTLY\b/i.exec(sql);
  if (concurrent) return `it runs ${concurrent[0].replace(/\s+/g, ' ')}, which cannot be inside a transaction`;
  if (/^\s*VACUUM\b/im.test(sql)) return 'it runs VACUUM, which cannot be inside a transaction';
  let inTransaction = false;
  let sawTransaction = false;
  for (const raw of sql.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('--')) continue;
    if (/^(BEGIN|START\s+TRANSACTION)\b/i.test(line)) {
      inTransaction = true;
      sawTransaction = true;
      continue;
    }
    if (/^(COMMIT|END)\b/i.test(line)) {
      inTransaction = false;
      continue;
    }
    if (!inTransaction) return `"${line.slice(0, 60)}" runs outside a transaction (an autocommit block, or a tool without transactions)`;
  }
  return sawTransaction ? undefined : 'its SQL opens no transaction';
}

export interface LockRetryOptions {
  /** One run of the tool with this lock_timeout and wall-clock limit. */
  readonly run: (lockTimeoutMs: number, timeoutMs: number) => Promise<ProgramRun>;
  /** Where the tool's sessions are, and their application_name: watched for blockers. */
  readonly target: DbTarget;
  readonly applicationName: string;
  /** Retries after the first attempt; 0: one attempt, as without this module. */
  readonly retries: number;
  /** `--lock-timeout`: no attempt waits for a lock longer than this. */
  readonly ceilingMs: number;
  /** `--timeout`: every attempt and every pause fit in it. */
  readonly budgetMs: number;
  /**
   * Asked after a lock-timeout failure, before a retry: undefined when the database is exactly as
   * before the first attempt and the migration is transactional, else why it must not be retried.
   */
  readonly whyNotRetry: () => Promise<string | undefined>;
  readonly signal?: AbortSignal;
  readonly onAttempt?: (attempt: LockAttempt) => void;
  readonly random?: () => number;
}

export interface LockRetryResult {
  /** The last attempt's run: what the step judges. */
  readonly run: ProgramRun;
  readonly attempts: readonly LockAttempt[];
  /** Set when the last attempt failed on a lock timeout and no retry followed: why. */
  readonly notRetried?: string;
}

/** Runs the tool, retrying lock timeouts as described at the top of this file. */
export async function runWithLockRetries(options: LockRetryOptions): Promise<LockRetryResult> {
  const schedule = lockTimeoutSchedule(options.retries, options.ceilingMs);
  const deadline = performance.now() + options.budgetMs;
  const attempts: LockAttempt[] = [];
  let waitedBeforeMs = 0;
  for (let index = 0; ; index += 1) {
    const lockTimeoutMs = schedule[index] ?? options.ceilingMs;
    const started = performance.now();
    const watch = startBlockerWatch(options.target, options.applicationName);
    await watch.ready;
    let run: ProgramRun;
    let blockers: Blocker[];
    try {
      run = await options.run(lockTimeoutMs, Math.max(1, Math.round(deadline - performance.now())));
    } finally {
      // Stop the watch on every path: it holds a connection of its own.
      blockers = await watch.stop();
    }
    const lockTimedOut = failedOnLockTimeout(run);
    const attempt: LockAttempt = {
      attempt: index + 1,
      lockTimeoutMs,
      waitedBeforeMs,
      durationMs: Math.round(performance.now() - started),
      outcome: run.ok ? 'succeeded' : lockTimedOut ? 'lock timeout' : 'failed',
      blockers,
    };
    attempts.push(attempt);
    options.onAttempt?.(attempt);
    if (!lockTimedOut) return { run, attempts };

    const last = index + 1 >= schedule.length;
    if (last) return { run, attempts, notRetried: schedule.length === 1 ? 'lock retries are off (pipeline.lockRetries 0)' : 'every attempt timed out waiting for a lock' };
    const wait = retryWaitMs(index + 1, options.random);
    const nextLockTimeout = schedule[index + 1] ?? options.ceilingMs;
    if (performance.now() + wait + nextLockTimeout > deadline) return { run, attempts, notRetried: 'no time left within --timeout for another attempt' };
    if (options.signal?.aborted) return { run, attempts, notRetried: 'interrupted' };
    const why = await options.whyNotRetry();
    if (why !== undefined) return { run, attempts, notRetried: why };
    await sleep(wait, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
    if (options.signal?.aborted) return { run, attempts, notRetried: 'interrupted' };
    waitedBeforeMs = wait;
  }
}

/** "blocked by pid 4242 (...)": the session that blocked the last attempt longest, for one-line messages. */
export function blockedBy(attempts: readonly LockAttempt[]): string | undefined {
  const blocker = attempts.at(-1)?.blockers[0];
  return blocker ? `blocked by ${describeBlocker(blocker)}` : undefined;
}

/** How the pipeline runs the migration tool in a step: retrying lock timeouts within the run's limits. */
export interface PipelineToolRun {
  readonly db: DbTarget;
  readonly applicationName: string;
  /** What "nothing happened" means for this database: the revision and schema before the first attempt. */
  readonly before: { readonly revision: string | null; readonly fingerprint: SchemaFingerprint };
  readonly label: string;
  readonly onOutput: (chunk: string) => void;
}

/**
 * Runs the plan's migration with lock retries (pipeline.lockRetries) and records every attempt under
 * `<label>LockAttempts` in the report. A retry needs two proofs: the database is exactly at `before`
 * (revision and schema, read again), and the migration's SQL is transactional (rendered once, when
 * first needed). A tool that cannot render its SQL, and every downgrade, is not retried: nothing
 * proves that a failed attempt left no committed part behind.
 */
export async function runPipelineTool(state: MigrationRunState, tool: PipelineToolRun): Promise<LockRetryResult> {
  const { context, plan } = state;
  if (!plan) throw new Error('running the tool needs a plan');
  const { pipeline } = context.settings;
  let transactional: Promise<string | undefined> | undefined;
  const transactionalVerdict = async (): Promise<string | undefined> => {
    if (state.options.direction !== 'upgrade' || plan.to === null) return 'a downgrade cannot be previewed, so nothing proves it is transactional';
    // The safety analysis rendered each pending revision already; render again only if it could not run.
    const rendered = state.rendered ?? (await state.migrator.renderSql(tool.db, plan.migrations, 'upgrade', { applicationName: state.names.inspect }).catch(() => undefined));
    if (rendered === undefined) return `${state.migrator.tool} could not render the migration's SQL, so nothing proves it is transactional`;
    for (const entry of rendered) {
      if (entry.sql === undefined) return `${entry.migration} cannot be previewed offline, so nothing proves it is transactional`;
      const why = nonTransactionalReason(entry.sql);
      if (why !== undefined) return `the migration is not transactional: ${entry.migration}: ${why}`;
    }
    return undefined;
  };
  const result = await runWithLockRetries({
    run: (lockTimeoutMs, timeoutMs) =>
      runTool(state.migrator, tool.db, state.options.direction, plan.to, {
        applicationName: tool.applicationName,
        lockTimeoutMs,
        ...liveClientCheck(state.serverVersionNum),
        timeoutMs,
        cancelSignal: state.interrupt.signal,
        onOutput: tool.onOutput,
      }),
    target: tool.db,
    applicationName: tool.applicationName,
    retries: pipeline.lockRetries,
    ceilingMs: pipeline.lockTimeoutMs,
    budgetMs: pipeline.timeoutSeconds * 1000,
    signal: state.interrupt.signal,
    whyNotRetry: async () => {
      // Another attempt is another writer: never without the run lock.
      const lockHeld = await state.lock?.assertHeld().then(
        () => undefined,
        (error: unknown) => `the run lock is not held (${error instanceof Error ? error.message : String(error)})`,
      );
      if (lockHeld !== undefined) return lockHeld;
      transactional ??= transactionalVerdict();
      const notTransactional = await transactional;
      if (notTransactional !== undefined) return notTransactional;
      await stopToolBackends(tool.db, tool.applicationName, state.names.inspect);
      const differences = await compareWithSnapshot(tool.db, state.migrator, { applicationName: state.names.inspect }, state.names.inspect, tool.before, 'before the first attempt');
      return differences.length === 0 ? undefined : `the failed attempt left the database changed (${differences.slice(0, 2).join('; ')})`;
    },
    onAttempt: (attempt) => {
      const log = attempt.outcome === 'lock timeout' ? context.logger.warn.bind(context.logger) : context.logger.info.bind(context.logger);
      // "result", not "outcome": a run's closing event is the one that carries an outcome.
      const { outcome, blockers, ...rest } = attempt;
      log({ ...rest, result: outcome, blockers: blockers.map(describeBlocker) }, `${tool.label} attempt ${attempt.attempt}: ${outcome}`);
    },
  });
  if (result.attempts.length > 1 || result.attempts[0]?.outcome === 'lock timeout') {
    state.recorder.detail(`${tool.label}LockAttempts`, { attempts: result.attempts, ...(result.notRetried ? { notRetried: result.notRetried } : {}) });
  }
  return result;
}

/**
 * The tail of a failure message: who blocked the last attempt (and whether preflight had already
 * named that session as a long or idle transaction), how many attempts ran, why no more.
 */
export function lockFailureNote(result: LockRetryResult, preflightChecks: readonly CheckResult[] = []): string {
  if (result.attempts.at(-1)?.outcome !== 'lock timeout') return '';
  const blocker = result.attempts.at(-1)?.blockers[0];
  const warned = blocker ? preflightChecks.find((check) => check.status !== 'pass' && check.detail.includes(`pid ${blocker.pid} `)) : undefined;
  const count = result.attempts.length;
  return [
    blocker ? `; ${blockedBy(result.attempts)}${warned ? ` (preflight warned of it: ${warned.name})` : ''}` : '',
    `; ${count} attempt${count === 1 ? '' : 's'}${result.notRetried ? ` (${result.notRetried})` : ''}`,
  ].join('');
}

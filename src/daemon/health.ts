import pg from 'pg';
import { connect } from '../db/client.js';
import { describeTarget, type DbTarget } from '../db/target.js';
import { errorMessage } from '../errors.js';
import { redact } from '../util/redact.js';
import type { JobState } from './jobRunner.js';
import type { PendingObservation } from './jobs/pendingCheck.js';

export interface DatabaseHealth {
  readonly ok: boolean;
  readonly database: string;
  readonly latencyMs: number;
  readonly error?: string;
}

export interface HealthReport {
  readonly ok: boolean;
  /** Why it is not ok, one line each; empty when ok. */
  readonly reasons: readonly string[];
  readonly database: DatabaseHealth;
  readonly jobs: readonly {
    readonly name: string;
    readonly running: boolean;
    readonly lastOutcome: string | null;
    readonly lastFinishedAt: string | null;
    readonly lastError: string | null;
  }[];
  readonly migrations: { readonly checkedAt: string; readonly current: string | null; readonly head: string | null; readonly pending: readonly string[] } | null;
}

/** `SELECT 1` on a fresh connection, bounded by `timeoutMs` from connect to answer. */
export async function probeDatabase(target: DbTarget, applicationName: string, timeoutMs: number): Promise<DatabaseHealth> {
  const started = performance.now();
  const database = describeTarget(target);
  let client: pg.Client | undefined;
  try {
    client = await connect(target, applicationName, { connectTimeoutMs: timeoutMs, statementTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs });
    await client.query('SELECT 1');
    return { ok: true, database, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    return { ok: false, database, latencyMs: Math.round(performance.now() - started), error: redact(errorMessage(error)) };
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/** Healthy: the database answers and no job's last execution failed. */
export function healthReport(database: DatabaseHealth, jobs: readonly JobState[], pending: PendingObservation | undefined): HealthReport {
  const reasons: string[] = [];
  if (!database.ok) reasons.push(`database ${database.database} unreachable: ${database.error ?? 'no answer'}`);
  for (const job of jobs) {
    if (job.lastOutcome === 'failed') reasons.push(`job ${job.name} failed at ${job.lastFinishedAt?.toISOString() ?? '?'}: ${job.lastError ?? 'unknown error'}`);
  }
  return {
    ok: reasons.length === 0,
    reasons,
    database,
    jobs: jobs.map((job) => ({
      name: job.name,
      running: job.running,
      lastOutcome: job.lastOutcome ?? null,
      lastFinishedAt: job.lastFinishedAt?.toISOString() ?? null,
      lastError: job.lastError ?? null,
    })),
    migrations: pending ? { checkedAt: pending.checkedAt.toISOString(), current: pending.current, head: pending.head, pending: pending.pending } : null,
  };
}

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditIndex, LatestRun } from '../report/auditIndex.js';
import type { JobState } from './jobRunner.js';
import type { PendingObservation } from './jobs/pendingCheck.js';
import type { FailedDatabasesObservation } from './jobs/retention.js';
import type { Clock } from './scheduler.js';

/** What the backup store holds, as far as /metrics cares. */
export interface BackupInventory {
  readonly count: number;
  readonly bytes: number;
  readonly newestAt: Date | undefined;
  readonly newestVerifiedAt: Date | undefined;
}

export interface MetricsSources {
  readonly clock: Clock;
  /** The target, as printed (user@host:port/db). */
  readonly database: string;
  /** Finished runs (reports/audit.jsonl and its rotated segments), indexed incrementally. */
  readonly audit: AuditIndex;
  backups(): Promise<BackupInventory>;
  jobs(): readonly JobState[];
  pending(): PendingObservation | undefined;
  /** Backups this daemon's retention job deleted since it started. */
  pruned(): { readonly count: number; readonly bytes: number };
  /** The kept failed-run databases, as of the latest retention run. */
  failedDatabases(): FailedDatabasesObservation | undefined;
}

const seconds = (date: Date) => date.getTime() / 1000;

export interface Metrics {
  readonly contentType: string;
  /** The whole exposition, read fresh from the sources. */
  render(): Promise<string>;
}

/**
 * The Prometheus registry of the daemon. Every value is read from its source at scrape time
 * (the audit ledger, the backup store, the job runners), so a run finished by another process or a
 * backup taken by hand shows up at the next scrape without the daemon being told.
 */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges that prom-client names like counters: `promtool check metrics` (run in CI on a live scrape)
  // rejects the `_total` suffix on a gauge, and nothing here alerts on handle counts.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  // prom-client runs the collect functions concurrently: the files are read once, before, so that
  // every metric of one scrape describes the same state.
  let backupSnapshot: BackupInventory = { count: 0, bytes: 0, newestAt: undefined, newestVerifiedAt: undefined };

  new Counter({
    name: 'orchestrate_runs_total',
    help: 'Finished orchestrate runs recorded in audit.jsonl, by command and outcome.',
    labelNames: ['command', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { command, outcome, count } of sources.audit.counts()) this.inc({ command, outcome }, count);
    },
  });
  const lastRun = (name: string, help: string, value: (latest: LatestRun) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['command'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [command, latest] of sources.audit.latest()) this.set({ command }, value(latest));
      },
    });
  lastRun('orchestrate_last_run_duration_seconds', 'Duration of the latest run of each command.', (entry) => entry.durationMs / 1000);
  lastRun('orchestrate_last_run_timestamp_seconds', 'When the latest run of each command finished (Unix time).', (entry) => seconds(new Date(entry.finishedAt)));
  lastRun('orchestrate_last_run_exit_code', 'Exit code of the latest run of each command.', (entry) => entry.exitCode);

  new Gauge({
    name: 'orchestrate_backups',
    help: 'Backups in the backup directory.',
    registers: [registry],
    collect() {
      this.set(backupSnapshot.count);
    },
  });
  new Gauge({
    name: 'orchestrate_backups_bytes',
    help: 'Total size of the backups in the backup directory.',
    registers: [registry],
    collect() {
      this.set(backupSnapshot.bytes);
    },
  });
  const age = (name: string, help: string, pick: (inventory: BackupInventory) => Date | undefined) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const at = pick(backupSnapshot);
        // No such backup at all is the worst age there is: alerts on "older than N" fire.
        this.set(at ? Math.max(0, (sources.clock().getTime() - at.getTime()) / 1000) : Number.POSITIVE_INFINITY);
      },
    });
  age('orchestrate_backup_newest_age_seconds', 'Age of the newest backup (+Inf when there is none).', (inventory) => inventory.newestAt);
  age('orchestrate_backup_newest_verified_age_seconds', 'Age of the newest backup whose archive was verified (+Inf when there is none).', (inventory) => inventory.newestVerifiedAt);

  new Counter({
    name: 'orchestrate_backups_pruned_total',
    help: 'Backups deleted by the retention job since the daemon started.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.pruned().count);
    },
  });
  new Counter({
    name: 'orchestrate_backups_pruned_bytes_total',
    help: 'Bytes freed by the retention job since the daemon started.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.pruned().bytes);
    },
  });

  // The label is daemon_job, not job: Prometheus sets `job` to the scrape job's name and would rename ours.
  const jobGauge = (name: string, help: string, value: (job: JobState) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['daemon_job'],
      registers: [registry],
      collect() {
        this.reset();
        for (const job of sources.jobs()) {
          const current = value(job);
          if (current !== undefined) this.set({ daemon_job: job.name }, current);
        }
      },
    });
  new Counter({
    name: 'orchestrate_job_runs_total',
    help: 'Executions of each daemon job since the daemon started, by outcome (skipped: the previous one was still running).',
    labelNames: ['daemon_job', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const job of sources.jobs()) {
        this.inc({ daemon_job: job.name, outcome: 'succeeded' }, job.runs - job.failures - job.cancellations);
        this.inc({ daemon_job: job.name, outcome: 'failed' }, job.failures);
        this.inc({ daemon_job: job.name, outcome: 'cancelled' }, job.cancellations);
        this.inc({ daemon_job: job.name, outcome: 'skipped' }, job.skipped);
      }
    },
  });
  new Counter({
    name: 'orchestrate_job_failures_total',
    help: 'Failed executions of each daemon job since the daemon started.',
    labelNames: ['daemon_job'],
    registers: [registry],
    collect() {
      this.reset();
      for (const job of sources.jobs()) this.inc({ daemon_job: job.name }, job.failures);
    },
  });
  jobGauge('orchestrate_job_last_success_timestamp_seconds', 'When each daemon job last succeeded (Unix time); absent until it has.', (job) => (job.lastSuccessAt ? seconds(job.lastSuccessAt) : undefined));
  jobGauge('orchestrate_job_last_duration_seconds', 'Duration of the latest execution of each daemon job.', (job) => (job.lastDurationMs === undefined ? undefined : job.lastDurationMs / 1000));
  jobGauge('orchestrate_job_last_failed', '1 when the latest execution of the job failed (what /healthz reports), else 0.', (job) => (job.lastOutcome === 'failed' ? 1 : 0));
  jobGauge('orchestrate_job_running', '1 while the job is executing.', (job) => (job.running ? 1 : 0));

  // Labelled by database so that, before the first observation, the series is absent rather than a misleading 0.
  const observedGauge = <T>(observe: () => T | undefined) => (name: string, help: string, value: (observation: T) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['database'],
      registers: [registry],
      collect() {
        this.reset();
        const observation = observe();
        if (observation) this.set({ database: sources.database }, value(observation));
      },
    });
  const pendingGauge = observedGauge(() => sources.pending());
  pendingGauge('orchestrate_migrations_pending', 'Migrations not yet applied to the database, as of the latest pending-migration check.', (observation) => observation.pending.length);
  pendingGauge('orchestrate_migrations_last_check_timestamp_seconds', 'When the pending-migration check last succeeded (Unix time).', (observation) => seconds(observation.checkedAt));
  const failedGauge = observedGauge(() => sources.failedDatabases());
  failedGauge('orchestrate_failed_databases', 'Kept <db>_failed_<run> databases (replaced by a restore), as of the latest retention run.', (observation) => observation.count);
  failedGauge('orchestrate_failed_databases_bytes', 'Total size of the kept failed-run databases, as of the latest retention run.', (observation) => observation.bytes);
  failedGauge('orchestrate_failed_databases_overdue', 'Kept failed-run databases older than rollback.keepFailedDays that the retention job could not drop.', (observation) => observation.overdue);

  const renderNow = async (): Promise<string> => {
    backupSnapshot = await sources.backups();
    sources.audit.refresh();
    return registry.metrics();
  };
  // Concurrent scrapes share renders: a scrape that arrives while one is in progress waits for the
  // next, which starts after it arrived (so it never gets data older than its request), and every
  // scrape arriving meanwhile shares that one. Twenty clients cost two renders, not twenty.
  let inProgress: Promise<string> | undefined;
  let next: Promise<string> | undefined;
  const render = (): Promise<string> => {
    if (!inProgress) {
      inProgress = renderNow().finally(() => {
        inProgress = undefined;
      });
      return inProgress;
    }
    next ??= inProgress
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return render();
      });
    return next;
  };
  return { contentType: registry.contentType, render };
}

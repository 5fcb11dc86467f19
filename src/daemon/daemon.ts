import type { Settings } from '../config/settings.js';
import { APPLICATION_NAME_PREFIX } from '../context.js';
import { withClient } from '../db/client.js';
import { stopBackends } from '../db/sessions.js';
import { describeTarget, type DbTarget } from '../db/target.js';
import { RefusedError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Migrator } from '../migrators/types.js';
import { notifyRunFinished } from '../notify/index.js';
import { recoverAtDaemonStart } from '../pipeline/recovery.js';
import { AuditIndex } from '../report/auditIndex.js';
import { redact } from '../util/redact.js';
import { healthReport, probeDatabase, type HealthReport } from './health.js';
import { backupInventory } from './inventory.js';
import { JobRunner, type Job, type JobFinished, type JobName } from './jobRunner.js';
import { scheduledBackupJob } from './jobs/backup.js';
import { ROTATE_BYTES, housekeepingJob } from './jobs/housekeeping.js';
import { pendingCheckJob, type PendingObservation } from './jobs/pendingCheck.js';
import { retentionJob, type FailedDatabasesObservation } from './jobs/retention.js';
import { createMetrics } from './metrics.js';
import { JournalCache, recentRuns } from './runs.js';
import type { Clock, ScheduleHandle, Scheduler } from './scheduler.js';
import { json, startHttpServer, type HttpServer } from './server.js';

export interface DaemonOptions {
  readonly settings: Settings;
  readonly target: DbTarget;
  readonly migrator: Migrator;
  readonly logger: Logger;
  /** application_name of the daemon's own sessions (health probes). */
  readonly applicationName: string;
  /** The daemon's own log file: housekeeping leaves it alone however old it looks, and rotates it when large. */
  readonly logFile?: string;
  /** Makes the logger reopen `logFile` by name after housekeeping renamed it. */
  readonly reopenLog?: () => void;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  /** Bearer token the endpoints require; undefined: none. */
  readonly token?: string;
  /** Overrides daemon.port. */
  readonly port?: number;
}

export interface StopResult {
  /** Jobs that were still running at the end of the grace period and were cancelled. */
  readonly cancelled: readonly JobName[];
  /** Jobs that did not even stop after being cancelled (none, unless a job ignores its signal). */
  readonly abandoned: readonly JobName[];
}

export interface Daemon {
  readonly url: string;
  readonly runners: ReadonlyMap<JobName, JobRunner>;
  health(): Promise<HealthReport>;
  /** Stops scheduling, lets running jobs finish within the grace period, cancels the rest, closes the endpoint. */
  stop(): Promise<StopResult>;
  /** A second signal: cancel running jobs now instead of waiting out the grace period. */
  hurry(): void;
}

/** How long a cancelled job gets to clean up (remove its partial archive) before the daemon leaves anyway. */
const CLEANUP_MS = 10_000;
const RUNS_DEFAULT_LIMIT = 20;
const RUNS_MAX_LIMIT = 500;

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { settings, target, migrator, logger, scheduler, clock } = options;
  const config = settings.daemon;
  let pending: PendingObservation | undefined;
  const pruned = { count: 0, bytes: 0 };
  const notifications = new Set<Promise<void>>();

  const jobs: { job: Job; schedule: string; runOnStart: boolean }[] = [];
  const add = (job: Job, settingsOfJob: { enabled: boolean; schedule: string; runOnStart: boolean }) => {
    if (settingsOfJob.enabled) jobs.push({ job, schedule: settingsOfJob.schedule, runOnStart: settingsOfJob.runOnStart });
  };
  let failedDatabases: FailedDatabasesObservation | undefined;
  add(
    retentionJob(settings, target, {
      deleted: (count, bytes) => {
        pruned.count += count;
        pruned.bytes += bytes;
      },
      failedDatabases: (observation) => {
        failedDatabases = observation;
      },
    }),
    config.jobs.retention,
  );
  add(scheduledBackupJob(settings, migrator, target), config.jobs.backup);
  add(
    pendingCheckJob(migrator, target, (observation) => {
      pending = observation;
    }),
    config.jobs.pendingCheck,
  );
  const { logFile, reopenLog } = options;
  add(
    housekeepingJob({
      logDir: settings.logDir,
      reportDir: settings.reportDir,
      olderThanDays: config.jobs.housekeeping.olderThanDays,
      keep: logFile ? [logFile] : [],
      rotateBytes: ROTATE_BYTES,
      ...(logFile && reopenLog ? { ownLog: { file: logFile, reopen: reopenLog } } : {}),
    }),
    config.jobs.housekeeping,
  );

  const reportFailure = (finished: JobFinished) => {
    if (finished.outcome !== 'failed') return;
    const delivery = notifyRunFinished(settings, logger, {
      runId: finished.runId,
      command: `daemon ${finished.job}`,
      outcome: 'failed',
      exitCode: finished.exitCode ?? 1,
      database: describeTarget(target),
      env: settings.env,
      startedAt: finished.startedAt.toISOString(),
      finishedAt: finished.finishedAt.toISOString(),
      durationMs: finished.durationMs,
      ...(finished.error ? { message: finished.error } : {}),
    });
    notifications.add(delivery);
    void delivery.finally(() => notifications.delete(delivery));
  };

  const runners = new Map<JobName, JobRunner>(
    jobs.map(({ job, schedule }) => [job.name, new JobRunner({ job, schedule, logger, clock, applicationNamePrefix: APPLICATION_NAME_PREFIX, onFinished: reportFailure })]),
  );
  const jobStates = () => [...runners.values()].map((runner) => runner.state());

  let probe: Promise<HealthReport> | undefined;
  const health = (): Promise<HealthReport> => {
    // Concurrent probes share one connection attempt: a burst of checks cannot pile up connections.
    probe ??= probeDatabase(target, options.applicationName, config.healthTimeoutMs)
      .then((database) => healthReport(database, jobStates(), pending))
      .finally(() => {
        probe = undefined;
      });
    return probe;
  };

  const audit = new AuditIndex(settings.reportDir, RUNS_MAX_LIMIT);
  const journals = new JournalCache(settings.reportDir);
  // The whole ledger is read once, here; every scrape after that reads only what was appended.
  try {
    audit.refresh();
  } catch (error) {
    logger.warn({ error: redact(errorMessage(error)) }, 'cannot read the audit ledger yet; /metrics and /runs will retry');
  }
  const metrics = createMetrics({
    clock,
    database: describeTarget(target),
    audit,
    backups: () => backupInventory(settings.backupDir, logger),
    jobs: jobStates,
    pending: () => pending,
    pruned: () => pruned,
    failedDatabases: () => failedDatabases,
  });

  let server: HttpServer;
  try {
    server = await startHttpServer({
      host: config.host,
      port: options.port ?? config.port,
      token: options.token,
      logger,
      routes: {
        '/healthz': async () => {
          const report = await health();
          return json(report.ok ? 200 : 503, report);
        },
        '/metrics': async () => ({ status: 200, contentType: metrics.contentType, body: await metrics.render() }),
        '/runs': async (query) => {
          const requested = Number(query.get('limit') ?? RUNS_DEFAULT_LIMIT);
          const limit = Number.isInteger(requested) && requested > 0 ? Math.min(requested, RUNS_MAX_LIMIT) : RUNS_DEFAULT_LIMIT;
          return json(200, recentRuns(journals, audit, limit, RUNS_MAX_LIMIT));
        },
      },
    });
  } catch (error) {
    throw new RefusedError(`cannot listen on ${config.host}:${options.port ?? config.port}: ${errorMessage(error)}`, {
      cause: error,
      hint: 'another process has the port, or the address is not local: set daemon.port / daemon.host',
    });
  }

  // Before any job: a run killed earlier must not leave its journal "running" and its leftovers behind.
  await recoverAtDaemonStart({ settings, target, migrator, applicationName: options.applicationName, logger });

  const handles: ScheduleHandle[] = [];
  for (const { job, schedule, runOnStart } of jobs) {
    const runner = runners.get(job.name);
    if (!runner) continue;
    handles.push(scheduler.every(job.name, schedule, () => void runner.trigger()));
    logger.info({ job: job.name, schedule }, 'job scheduled');
    if (runOnStart) void runner.trigger();
  }
  logger.info({ url: server.url, jobs: jobs.map(({ job }) => job.name).join(',') || 'none' }, 'daemon listening');

  /**
   * A cancelled job's children are gone, but their server backends may still be running (pg_dump
   * queued for a lock, a migration tool's statement): killing a client does not stop them.
   */
  const stopJobBackends = async (runId: string | undefined) => {
    if (!runId) return;
    try {
      const stopped = await withClient(target, options.applicationName, (client) => stopBackends(client, `${APPLICATION_NAME_PREFIX}${runId}`));
      if (stopped.cancelled.length + stopped.terminated.length > 0) logger.warn({ jobRunId: runId, cancelled: stopped.cancelled.join(','), terminated: stopped.terminated.join(',') }, 'stopped the cancelled job\'s server backends');
    } catch (error) {
      logger.warn({ jobRunId: runId, error: redact(errorMessage(error)) }, 'could not check for the cancelled job\'s server backends');
    }
  };

  let stopping: Promise<StopResult> | undefined;
  return {
    url: server.url,
    runners,
    health,
    hurry: () => {
      for (const runner of runners.values()) runner.abort();
    },
    stop: () => {
      stopping ??= (async () => {
        for (const handle of handles) handle.stop();
        const graceMs = config.graceSeconds * 1000;
        const running = [...runners.values()].filter((runner) => runner.state().running);
        if (running.length > 0) logger.info({ jobs: running.map((runner) => runner.name).join(','), graceSeconds: config.graceSeconds }, 'waiting for running jobs');
        const settled = await Promise.all([...runners.values()].map(async (runner) => ({ runner, wasRunning: runner.state().running, stopped: await runner.close(graceMs, CLEANUP_MS) })));
        await Promise.all([...notifications]);
        await server.close();
        const cancelled = settled.filter(({ runner, wasRunning, stopped }) => wasRunning && stopped && runner.state().lastOutcome === 'cancelled').map(({ runner }) => runner);
        const abandoned = settled.filter(({ stopped }) => !stopped).map(({ runner }) => runner);
        for (const runner of [...cancelled, ...abandoned]) await stopJobBackends(runner.state().lastRunId);
        if (abandoned.length > 0) logger.error({ jobs: abandoned.map((runner) => runner.name).join(',') }, 'jobs did not stop after being cancelled; leaving anyway');
        return { cancelled: cancelled.map((runner) => runner.name), abandoned: abandoned.map((runner) => runner.name) };
      })();
      return stopping;
    },
  };
}

import { dropDatabase } from '../backup/databases.js';
import { withClient } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import { readJournals } from '../pipeline/journal.js';
import { scratchDatabaseName } from '../pipeline/rehearsal.js';
import { readAudit } from '../report/audit.js';

/**
 * A database a restore replaced, kept as `<db>_failed_<run>` (rollback.ts) so that whatever the failed
 * run wrote can still be looked at. The run id is random, so the age comes from the run's own records:
 * its journal, else its audit line. A copy whose run left no record has no known age and is never
 * dropped automatically.
 */
export interface FailedDatabase {
  readonly name: string;
  readonly runId: string;
  readonly bytes: number;
  /** When the run that left it finished; undefined when no record of the run is left. */
  readonly failedAt: Date | undefined;
  readonly ageDays: number | undefined;
  /** Older than rollback.keepFailedDays: the retention job drops it. */
  readonly expired: boolean;
}

const DAY_MS = 86_400_000;
const FAILED_SUFFIX = /_failed_([0-9a-f]{8})$/;

/** When each of `runIds` finished, from the journals and, for runs whose journal is gone, the whole ledger. */
function runFinishTimes(reportDir: string, runIds: ReadonlySet<string>): Map<string, Date> {
  const times = new Map<string, Date>();
  for (const journal of readJournals(reportDir)) {
    if (runIds.has(journal.runId)) times.set(journal.runId, new Date(journal.finishedAt ?? journal.startedAt));
  }
  if ([...runIds].some((runId) => !times.has(runId))) {
    for (const entry of readAudit(reportDir)) if (runIds.has(entry.runId) && !times.has(entry.runId)) times.set(entry.runId, new Date(entry.finishedAt));
  }
  return times;
}

/** The kept failed copies of the target database, oldest first, with their size and age. */
export async function listFailedDatabases(target: DbTarget, applicationName: string, reportDir: string, keepDays: number, now: Date): Promise<FailedDatabase[]> {
  const rows = await withClient(target, applicationName, async (client) => {
    const result = await client.query<{ datname: string; bytes: string }>("SELECT datname, pg_database_size(oid)::text AS bytes FROM pg_database WHERE datname ~ '_failed_[0-9a-f]{8}$' ORDER BY datname");
    return result.rows;
  });
  // Only names this target's runs produce: another application's database that happens to end in
  // `_failed_<hex>` is not ours to list or drop.
  const ours = rows.flatMap((row) => {
    const runId = FAILED_SUFFIX.exec(row.datname)?.[1];
    return runId && scratchDatabaseName(target.database, runId, 'failed') === row.datname ? [{ name: row.datname, runId, bytes: Number(row.bytes) }] : [];
  });
  const finished = runFinishTimes(reportDir, new Set(ours.map((row) => row.runId)));
  return ours
    .map((row) => {
      const failedAt = finished.get(row.runId);
      const ageDays = failedAt ? (now.getTime() - failedAt.getTime()) / DAY_MS : undefined;
      return { ...row, failedAt, ageDays, expired: ageDays !== undefined && ageDays > keepDays };
    })
    .sort((a, b) => (a.failedAt?.getTime() ?? 0) - (b.failedAt?.getTime() ?? 0));
}

/** Drops the expired copies; returns what it dropped. */
export async function dropExpiredFailedDatabases(target: DbTarget, applicationName: string, databases: readonly FailedDatabase[]): Promise<FailedDatabase[]> {
  const expired = databases.filter((database) => database.expired);
  if (expired.length === 0) return [];
  await withClient(target, applicationName, async (client) => {
    for (const database of expired) await dropDatabase(client, database.name);
  });
  return expired;
}

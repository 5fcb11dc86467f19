import { readJournals } from '../pipeline/journal.js';
import { readAudit, type AuditEntry } from '../report/audit.js';

export interface RunSummary {
  readonly runId: string;
  readonly command: string;
  readonly outcome: string;
  readonly exitCode: number | null;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
  readonly env?: string;
  readonly database?: string;
  readonly revisionBefore?: string | null;
  readonly revisionAfter?: string | null;
  readonly backupId?: string;
  readonly report?: string;
}

export interface RunsDocument {
  /** Runs without an audit line yet: still going, or their process died (the next run will find them). */
  readonly running: readonly RunSummary[];
  /** Newest first. */
  readonly recent: readonly RunSummary[];
}

function summarize(entry: AuditEntry): RunSummary {
  const { runId, command, outcome, exitCode, startedAt, finishedAt, durationMs, env, database, revisionBefore, revisionAfter, backupId, report } = entry;
  return { runId, command, outcome, exitCode, startedAt, finishedAt, durationMs, env, database, revisionBefore, revisionAfter, backupId, report };
}

/** What GET /runs answers: the latest `limit` finished runs and the ones still marked running. */
export function recentRuns(reportDir: string, limit: number): RunsDocument {
  const audit = readAudit(reportDir);
  const finished = new Set(audit.map((entry) => entry.runId));
  const running = readJournals(reportDir)
    .filter((journal) => journal.status === 'running' && !finished.has(journal.runId))
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
    .map((journal) => ({ runId: journal.runId, command: journal.command, outcome: 'running', exitCode: null, startedAt: journal.startedAt, finishedAt: null, durationMs: null }));
  return { running, recent: audit.slice(-limit).reverse().map(summarize) };
}

import { readJournals } from '../pipeline/journal.js';
import type { AuditEntry } from '../report/audit.js';
import type { AuditIndex } from '../report/auditIndex.js';

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
export function recentRuns(reportDir: string, audit: AuditIndex, limit: number, keepRecent: number): RunsDocument {
  audit.refresh();
  // A run writes its audit line just before it marks its journal finished: a journal still marked
  // running whose line is already in is one of the newest, so the kept tail is enough to tell.
  const finished = new Set(audit.recent(keepRecent).map((entry) => entry.runId));
  const running = readJournals(reportDir)
    .filter((journal) => journal.status === 'running' && !finished.has(journal.runId))
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
    .map((journal) => ({ runId: journal.runId, command: journal.command, outcome: 'running', exitCode: null, startedAt: journal.startedAt, finishedAt: null, durationMs: null }));
  return { running, recent: audit.recent(limit).map(summarize) };
}

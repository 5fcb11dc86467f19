import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { runsDirectory, type RunJournal } from '../pipeline/journal.js';
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

type JournalSummary = Pick<RunJournal, 'runId' | 'command' | 'status' | 'startedAt'>;

/**
 * The journals' summaries, re-read only when a file changed: a journal is replaced by rename at every
 * write, so the same inode and mtime mean the same content. /runs then costs a directory listing and
 * a stat per journal, not a read and parse of every one.
 */
export class JournalCache {
  readonly #dir: string;
  readonly #entries = new Map<string, { ino: number; mtimeMs: number; summary: JournalSummary | undefined }>();

  constructor(reportDir: string) {
    this.#dir = runsDirectory(reportDir);
  }

  summaries(): JournalSummary[] {
    let names: string[];
    try {
      names = readdirSync(this.#dir).filter((name) => name.endsWith('.json') && !name.startsWith('.'));
    } catch {
      return [];
    }
    const seen = new Set(names);
    for (const name of this.#entries.keys()) if (!seen.has(name)) this.#entries.delete(name);
    return names.flatMap((name) => {
      const file = path.join(this.#dir, name);
      const stat = statSync(file, { throwIfNoEntry: false });
      if (!stat) return [];
      const cached = this.#entries.get(name);
      if (cached && cached.ino === stat.ino && cached.mtimeMs === stat.mtimeMs) return cached.summary ? [cached.summary] : [];
      let summary: JournalSummary | undefined;
      try {
        const { runId, command, status, startedAt } = JSON.parse(readFileSync(file, 'utf8')) as RunJournal;
        summary = { runId, command, status, startedAt };
      } catch {
        // Unreadable (not a journal): remembered as such until it changes.
        summary = undefined;
      }
      this.#entries.set(name, { ino: stat.ino, mtimeMs: stat.mtimeMs, summary });
      return summary ? [summary] : [];
    });
  }
}

/** What GET /runs answers: the latest `limit` finished runs and the ones still marked running. */
export function recentRuns(journals: JournalCache, audit: AuditIndex, limit: number, keepRecent: number): RunsDocument {
  audit.refresh();
  // A run writes its audit line just before it marks its journal finished: a journal still marked
  // running whose line is already in is one of the newest, so the kept tail is enough to tell.
  const finished = new Set(audit.recent(keepRecent).map((entry) => entry.runId));
  const running = journals
    .summaries()
    .filter((journal) => journal.status === 'running' && !finished.has(journal.runId))
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
    .map((journal) => ({ runId: journal.runId, command: journal.command, outcome: 'running', exitCode: null, startedAt: journal.startedAt, finishedAt: null, durationMs: null }));
  return { running, recent: audit.recent(limit).map(summarize) };
}

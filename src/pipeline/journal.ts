import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { redactDeep } from '../util/redact.js';
import { writeFileAtomic } from '../util/atomicFile.js';

/**
 * The run journal: one JSON file per run under <reportDir>/runs/, rewritten atomically at every step.
 * It is the single record that the report, the log, the terminal progress and the rollback read, and
 * what later runs and `backups prune` consult to find unfinished or failed runs.
 */
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'undone';

export interface StepRecord {
  readonly name: string;
  status: StepStatus;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  detail?: string;
  error?: string;
}

/** running: not finished (or the orchestrator died); the rest mirror the exit codes. */
export type RunStatus = 'running' | 'succeeded' | 'refused' | 'locked' | 'rehearsal-failed' | 'rolled-back' | 'needs-human' | 'failed';

export interface RunJournal {
  readonly runId: string;
  readonly command: string;
  status: RunStatus;
  exitCode?: number;
  readonly startedAt: string;
  finishedAt?: string;
  /** The backup this run took; prune must keep it while the run is not a clean success. */
  backupId?: string;
  /** application_name of the run's sessions, to find leftover backends after a crash. */
  readonly applicationName: string;
  readonly steps: StepRecord[];
  /** Anything else the pipeline records (revisions, validation, rollback...). */
  details: Record<string, unknown>;
}

export function runsDirectory(reportDir: string): string {
  return path.join(reportDir, 'runs');
}

export function journalPath(reportDir: string, runId: string): string {
  return path.join(runsDirectory(reportDir), `${runId}.json`);
}

export function writeJournal(reportDir: string, journal: RunJournal): void {
  writeFileAtomic(journalPath(reportDir, journal.runId), `${JSON.stringify(redactDeep(journal), null, 2)}\n`);
}

/** Every journal in the report directory; unreadable ones are skipped (a crash cannot tear them: they are renamed into place). */
export function readJournals(reportDir: string): RunJournal[] {
  const dir = runsDirectory(reportDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
    .flatMap((name) => {
      try {
        return [JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as RunJournal];
      } catch {
        return [];
      }
    });
}

/** Backups that a run which did not end in success (or never ended) still depends on. */
export function backupsHeldByRuns(reportDir: string): Map<string, RunJournal> {
  const held = new Map<string, RunJournal>();
  for (const journal of readJournals(reportDir)) {
    if (journal.backupId && journal.status !== 'succeeded') held.set(journal.backupId, journal);
  }
  return held;
}

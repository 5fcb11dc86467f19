import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { redactDeep } from '../util/redact.js';
import { writeFileAtomic } from '../util/atomicFile.js';
import { parseJsonAs } from '../util/json.js';

/**
 * The run journal: one JSON file per run under <reportDir>/runs/, rewritten atomically at every step.
 * It is the single record that the report, the log, the terminal progress and the rollback read, and
 * what later runs and `backups prune` consult to find unfinished or failed runs. Read back through a
 * schema: prune's safety and crash recovery depend on reading it right.
 */
const stepStatusSchema = z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped', 'undone']);
export type StepStatus = z.infer<typeof stepStatusSchema>;

export interface StepRecord {
  readonly name: string;
  status: StepStatus;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  detail?: string;
  error?: string;
}

const stepRecordSchema = z.looseObject({
  name: z.string(),
  status: stepStatusSchema,
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  durationMs: z.number().optional(),
  detail: z.string().optional(),
  error: z.string().optional(),
});

/** running: not finished (or the orchestrator died: then a later run marks it crashed); the rest mirror the exit codes. */
const runStatusSchema = z.enum(['running', 'succeeded', 'refused', 'locked', 'rehearsal-failed', 'rolled-back', 'needs-human', 'failed', 'crashed']);
export type RunStatus = z.infer<typeof runStatusSchema>;

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

// Loose: keys a newer version adds survive a rewrite by this one.
const runJournalSchema = z.looseObject({
  runId: z.string().min(1),
  command: z.string(),
  status: runStatusSchema,
  exitCode: z.number().int().optional(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  backupId: z.string().min(1).optional(),
  applicationName: z.string().min(1),
  steps: z.array(stepRecordSchema),
  details: z.record(z.string(), z.unknown()),
});

/** A journal is parsed or refused whole: a half-understood one must not steer recovery or prune. */
export function parseJournal(text: string): RunJournal | undefined {
  return parseJsonAs(runJournalSchema, text) as RunJournal | undefined;
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

interface JournalFiles {
  readonly journals: RunJournal[];
  /** Files that are not a journal this version understands, with what they might name as their backup. */
  readonly unreadable: { readonly file: string; readonly backupId: string | undefined }[];
}

// A backup id as a journal spells it, for holding the backup of a journal that does not parse.
const BACKUP_ID_FIELD = /"backupId"\s*:\s*"([^"\\]+)"/;

function readJournalFiles(reportDir: string): JournalFiles {
  const dir = runsDirectory(reportDir);
  if (!existsSync(dir)) return { journals: [], unreadable: [] };
  const files: JournalFiles = { journals: [], unreadable: [] };
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    let text: string;
    try {
      text = readFileSync(path.join(dir, name), 'utf8');
    } catch {
      // Removed by housekeeping between listing and reading.
      continue;
    }
    const journal = parseJournal(text);
    if (journal) files.journals.push(journal);
    else files.unreadable.push({ file: name, backupId: BACKUP_ID_FIELD.exec(text)?.[1] });
  }
  return files;
}

/** Every journal in the report directory that parses (a crash cannot tear one: they are renamed into place). */
export function readJournals(reportDir: string): RunJournal[] {
  return readJournalFiles(reportDir).journals;
}

/**
 * Backups that a run which did not end in success (or never ended) still depends on. A journal that
 * does not parse still holds the backup it names: prune errs on the side of keeping.
 */
export function backupsHeldByRuns(reportDir: string): Map<string, RunJournal> {
  const held = new Map<string, RunJournal>();
  const { journals, unreadable } = readJournalFiles(reportDir);
  for (const journal of journals) {
    if (journal.backupId && journal.status !== 'succeeded') held.set(journal.backupId, journal);
  }
  for (const { file, backupId } of unreadable) {
    if (backupId && !held.has(backupId)) {
      held.set(backupId, { runId: file.replace(/\.json$/, ''), command: 'unknown', status: 'failed', startedAt: '', applicationName: '', steps: [], details: { unreadableJournal: file } });
    }
  }
  return held;
}

/** Which process writes a journal, so that a later run can tell a dead run from a live one. */
export interface JournalOwner {
  readonly pid: number;
  readonly host: string;
  /** When the process started (clock ticks since boot, /proc/PID/stat): a reused pid does not pass for it. */
  readonly pidStart?: number;
}

const ownerSchema = z.object({ pid: z.number().int().positive(), host: z.string(), pidStart: z.number().optional() });

function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

export function journalOwner(): JournalOwner {
  const pidStart = processStart(process.pid);
  return { pid: process.pid, host: hostname(), ...(pidStart !== undefined ? { pidStart } : {}) };
}

/** True when the journal's writer runs on this machine and is still alive; false when dead or unknowable here. */
export function isOwnerAlive(journal: RunJournal): boolean {
  const owner = ownerSchema.safeParse(journal.details);
  if (!owner.success || owner.data.host !== hostname()) return false;
  try {
    process.kill(owner.data.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = processStart(owner.data.pid);
  return owner.data.pidStart === undefined || start === undefined || start === owner.data.pidStart;
}

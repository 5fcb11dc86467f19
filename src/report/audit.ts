import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { fsyncPath } from '../util/atomicFile.js';
import { redactDeep } from '../util/redact.js';
import { parseJsonAs } from '../util/json.js';

/** One line of reports/audit.jsonl: append-only, one per run of a command that changes something. */
export interface AuditEntry {
  readonly runId: string;
  readonly command: string;
  readonly outcome: string;
  readonly exitCode: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly env: string;
  readonly database: string;
  readonly user: string;
  readonly host: string;
  readonly revisionBefore?: string | null;
  readonly revisionAfter?: string | null;
  readonly target?: string | null;
  readonly backupId?: string;
  readonly report?: string;
  readonly forced?: boolean;
  readonly reason?: string;
}

// Loose: fields a newer version adds are kept. A line that does not match is not an audit entry.
const auditEntrySchema = z.looseObject({
  runId: z.string().min(1),
  command: z.string(),
  outcome: z.string(),
  exitCode: z.number().int(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number(),
  env: z.string(),
  database: z.string(),
  user: z.string(),
  host: z.string(),
  revisionBefore: z.string().nullable().optional(),
  revisionAfter: z.string().nullable().optional(),
  target: z.string().nullable().optional(),
  backupId: z.string().optional(),
  report: z.string().optional(),
  forced: z.boolean().optional(),
  reason: z.string().optional(),
});

/** One line of the ledger, or undefined when it is not a whole, well-formed entry (a line torn by a full disk, a hand edit). */
export function parseAuditLine(line: string): AuditEntry | undefined {
  return parseJsonAs(auditEntrySchema, line) as AuditEntry | undefined;
}

export function auditPath(reportDir: string): string {
  return path.join(reportDir, 'audit.jsonl');
}

/**
 * Rotated parts of the ledger: `audit-<timestamp>-<id>.jsonl`, named so that sorting by name is
 * sorting by age. Together with audit.jsonl, in that order, they are the whole ledger.
 */
const SEGMENT = /^audit-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-[A-Za-z0-9]+\.jsonl$/;

export function isAuditSegment(name: string): boolean {
  return SEGMENT.test(name);
}

/** The rotated segments, oldest first (absolute paths). */
export function auditSegments(reportDir: string): string[] {
  if (!existsSync(reportDir)) return [];
  return readdirSync(reportDir)
    .filter(isAuditSegment)
    .sort()
    .map((name) => path.join(reportDir, name));
}

export function appendAudit(reportDir: string, entry: AuditEntry): void {
  mkdirSync(reportDir, { recursive: true, mode: 0o700 });
  // One write of one line with O_APPEND: concurrent runs cannot interleave inside a line. The file is
  // opened by name for every line, so after a rotation the next line starts a new audit.jsonl.
  appendFileSync(auditPath(reportDir), `${JSON.stringify(redactDeep(entry))}\n`, { mode: 0o600 });
}

/** The whole ledger, rotated segments first, oldest first. Reads everything: not for the daemon's endpoints. */
export function readAudit(reportDir: string): AuditEntry[] {
  const files = [...auditSegments(reportDir), auditPath(reportDir)].filter((file) => existsSync(file));
  return files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line) => {
        const entry = parseAuditLine(line);
        return entry ? [entry] : [];
      }),
  );
}

/**
 * Moves audit.jsonl aside as a segment when it has reached `maxBytes`; returns the segment, or
 * undefined when there was nothing to rotate. A rename is safe with concurrent appenders: each opens
 * the ledger by name for each line, so a line lands either in the segment (opened before the rename)
 * or in a fresh audit.jsonl (opened after), never nowhere, and readers consult both.
 */
export function rotateAudit(reportDir: string, maxBytes: number, stamp: string): string | undefined {
  const current = auditPath(reportDir);
  const size = statSync(current, { throwIfNoEntry: false })?.size ?? 0;
  if (size === 0 || size < maxBytes) return undefined;
  const segment = path.join(reportDir, `audit-${stamp}.jsonl`);
  // rename() would silently replace an existing segment: history must never be overwritten.
  if (!isAuditSegment(path.basename(segment)) || existsSync(segment)) throw new Error(`cannot rotate the audit ledger to ${path.basename(segment)}: bad name or already there`);
  renameSync(current, segment);
  fsyncPath(reportDir);
  return segment;
}

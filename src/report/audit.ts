import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { redactDeep } from '../util/redact.js';

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
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  const parsed = auditEntrySchema.safeParse(raw);
  return parsed.success ? (parsed.data as AuditEntry) : undefined;
}

export function auditPath(reportDir: string): string {
  return path.join(reportDir, 'audit.jsonl');
}

export function appendAudit(reportDir: string, entry: AuditEntry): void {
  mkdirSync(reportDir, { recursive: true, mode: 0o700 });
  // One write of one line with O_APPEND: concurrent runs cannot interleave inside a line.
  appendFileSync(auditPath(reportDir), `${JSON.stringify(redactDeep(entry))}\n`, { mode: 0o600 });
}

export function readAudit(reportDir: string): AuditEntry[] {
  const file = auditPath(reportDir);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .flatMap((line) => {
      const entry = parseAuditLine(line);
      return entry ? [entry] : [];
    });
}

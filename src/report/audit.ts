import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
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
      try {
        return [JSON.parse(line) as AuditEntry];
      } catch {
        return [];
      }
    });
}

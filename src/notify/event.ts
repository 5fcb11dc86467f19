import os from 'node:os';
import { describeExitCode, exitCodeMeaning, type ExitCodeMeaning } from '../errors.js';
import { redactDeep } from '../util/redact.js';

/** What the pipeline (or a daemon job) tells the notifier when a run ends. */
export interface RunEvent {
  readonly runId: string;
  readonly command: string;
  readonly outcome: string;
  readonly exitCode: number;
  /** Already redacted (`user@host:port/db`); redacted again anyway. */
  readonly database: string;
  readonly env: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly reportPath?: string;
  readonly message?: string;
}

/** How bad it is: what an on-call person needs before reading anything else. */
export type Severity = ExitCodeMeaning['severity'];

export interface Classification {
  readonly kind: ExitCodeMeaning['kind'];
  readonly severity: Severity;
  /** The exit code's meaning and the production state it leaves (CONTRACT.md). */
  readonly meaning: string;
}

/** From the one exit-code table (src/errors.ts): kind, severity, and the meaning with the production state. */
export function classify(exitCode: number): Classification {
  const row = exitCodeMeaning(exitCode);
  if (!row) return { kind: 'failed', severity: 'critical', meaning: describeExitCode(exitCode) };
  return { kind: row.kind, severity: row.severity, meaning: `${row.meaning}; production: ${row.production}` };
}

/** The JSON a webhook receives. Built from named fields only, then redacted: no URL, no password can ride along. */
export function webhookBody(event: RunEvent, classification: Classification, host = os.hostname()): Record<string, unknown> {
  return redactDeep({
    source: 'orchestrate',
    event: `run.${classification.kind}`,
    severity: classification.severity,
    summary: `${event.command} ${classification.kind} (exit ${event.exitCode}) on ${event.database} [${event.env}]`,
    meaning: classification.meaning,
    runId: event.runId,
    command: event.command,
    outcome: event.outcome,
    exitCode: event.exitCode,
    database: event.database,
    env: event.env,
    host,
    startedAt: event.startedAt,
    finishedAt: event.finishedAt,
    durationMs: event.durationMs,
    ...(event.reportPath ? { reportPath: event.reportPath } : {}),
    ...(event.message ? { message: event.message } : {}),
  });
}

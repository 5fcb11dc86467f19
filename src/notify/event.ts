import os from 'node:os';
import { ExitCode } from '../errors.js';
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
export type Severity = 'info' | 'warning' | 'critical';

export interface Classification {
  readonly kind: 'succeeded' | 'failed' | 'rolled-back' | 'needs-human';
  readonly severity: Severity;
  /** The exit code's meaning and the production state it leaves (CONTRACT.md). */
  readonly meaning: string;
}

const MEANINGS: Readonly<Record<number, string>> = {
  [ExitCode.Success]: 'success: production is as intended',
  [ExitCode.Internal]: 'unexpected internal error: read the report before anything else',
  [ExitCode.Usage]: 'usage or configuration error: production untouched',
  [ExitCode.Refused]: 'refused by preflight or safety policy: production untouched',
  [ExitCode.Locked]: 'another run holds the migration lock: production untouched',
  [ExitCode.RehearsalFailed]: 'rehearsal on the scratch copy failed: production untouched',
  [ExitCode.RolledBack]: 'production step failed and was rolled back; state verified equal to before the run',
  [ExitCode.NeedsHuman]: 'rollback failed, could not be verified, or a restore needs a decision: NEEDS A HUMAN',
  [ExitCode.Pending]: 'migrations pending: production untouched',
};

export function classify(exitCode: number): Classification {
  const meaning = MEANINGS[exitCode] ?? `exit code ${exitCode}`;
  if (exitCode === ExitCode.Success) return { kind: 'succeeded', severity: 'info', meaning };
  if (exitCode === ExitCode.RolledBack) return { kind: 'rolled-back', severity: 'warning', meaning };
  if (exitCode === ExitCode.NeedsHuman) return { kind: 'needs-human', severity: 'critical', meaning };
  return { kind: 'failed', severity: exitCode === ExitCode.Internal ? 'critical' : 'warning', meaning };
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

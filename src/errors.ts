/**
 * Typed errors and the exit codes of ../CONTRACT.md. Only the CLI's error boundary turns these into a
 * process exit; everything else throws.
 */
export const ExitCode = {
  Success: 0,
  Internal: 1,
  Usage: 2,
  Refused: 3,
  Locked: 4,
  RehearsalFailed: 5,
  RolledBack: 6,
  NeedsHuman: 7,
  Pending: 8,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
export type ExitCodeName = keyof typeof ExitCode;

/** What an exit code says about production: the CONTRACT.md column every consumer shows. */
export type ProductionState = 'as intended' | 'see report' | 'untouched' | 'as before the run' | 'NEEDS A HUMAN';

export interface ExitCodeMeaning {
  readonly code: ExitCode;
  readonly name: ExitCodeName;
  /** One line, as in CONTRACT.md. */
  readonly meaning: string;
  readonly production: ProductionState;
  /** How an on-call person should take it (webhooks, alerts). */
  readonly severity: 'info' | 'warning' | 'critical';
  /** The webhook event (`run.<kind>`). */
  readonly kind: 'succeeded' | 'failed' | 'rolled-back' | 'needs-human';
  /** What to do next, for whoever reads the code without the report at hand (deploy.sh prints it). */
  readonly next: string;
}

/**
 * THE table of exit codes. Error messages, reports, webhooks, `orchestrate exit-codes` and
 * scripts/deploy.sh (through the generated scripts/lib/exit-codes.sh) all read it; nothing else
 * spells the meanings out. Typed as a record over ExitCode, so a code without a row does not compile.
 */
export const EXIT_CODES: Readonly<Record<ExitCode, ExitCodeMeaning>> = {
  0: { code: 0, name: 'Success', meaning: 'success, or nothing to do', production: 'as intended', severity: 'info', kind: 'succeeded', next: 'nothing' },
  1: {
    code: 1,
    name: 'Internal',
    meaning: 'unexpected internal error',
    production: 'see report',
    severity: 'critical',
    kind: 'failed',
    next: "read the run's report in reports/ and its log in logs/ before anything else; check 'orchestrate current' to see where the database stands",
  },
  2: { code: 2, name: 'Usage', meaning: 'usage or configuration error', production: 'untouched', severity: 'warning', kind: 'failed', next: 'fix the command line or orchestrate.config.json (the message lists every problem) and run again' },
  3: {
    code: 3,
    name: 'Refused',
    meaning: 'refused by preflight or safety policy',
    production: 'untouched',
    severity: 'warning',
    kind: 'failed',
    next: "read the findings ('orchestrate lint' repeats them) and fix the migration or the environment; override with --force only for a reason you write down (--reason)",
  },
  4: {
    code: 4,
    name: 'Locked',
    meaning: 'another run holds the migration lock',
    production: 'untouched',
    severity: 'warning',
    kind: 'failed',
    next: "wait for that run to finish (the daemon's /runs, or reports/audit.jsonl) and run again; never remove the lock by hand while that run is alive",
  },
  5: {
    code: 5,
    name: 'RehearsalFailed',
    meaning: 'rehearsal failed',
    production: 'untouched',
    severity: 'warning',
    kind: 'failed',
    next: "the migration does not work on today's data: read the rehearsal step in the report, fix the migration, and run again",
  },
  6: {
    code: 6,
    name: 'RolledBack',
    meaning: 'production step failed and was rolled back; state verified equal to before the run',
    production: 'as before the run',
    severity: 'warning',
    kind: 'rolled-back',
    next: 'the old application keeps running on the old schema: read the report for the failing step, fix the migration, and run again',
  },
  7: {
    code: 7,
    name: 'NeedsHuman',
    meaning: 'rollback failed, could not be verified, or a restore needs a human decision',
    production: 'NEEDS A HUMAN',
    severity: 'critical',
    kind: 'needs-human',
    next: "do not re-run the migration; stop writes if you can, read the report (it names the backup), and decide with a DBA: 'orchestrate restore <backup-id>' or a manual fix",
  },
  8: { code: 8, name: 'Pending', meaning: 'migrations pending', production: 'untouched', severity: 'warning', kind: 'failed', next: "run 'orchestrate history' to see which, then migrate" },
};

/** The row of `code`, or a row that says plainly the code is not orchestrate's (a signal, a wrapper's own code). */
export function exitCodeMeaning(code: number): ExitCodeMeaning | undefined {
  return Object.hasOwn(EXIT_CODES, code) ? EXIT_CODES[code as ExitCode] : undefined;
}

/** `exit 6 (RolledBack): production step failed ...; production: as before the run`. */
export function describeExitCode(code: number): string {
  const row = exitCodeMeaning(code);
  return row ? `exit ${code} (${row.name}): ${row.meaning}; production: ${row.production}` : `exit ${code}: not an orchestrate exit code (killed by a signal?); production state unknown`;
}

export interface ErrorDetails {
  /** What a person should do next, printed after the reason. */
  readonly hint?: string;
  readonly cause?: unknown;
}

/** An expected failure: its message is the one line the user sees, its code the process exit code. */
export class OrchestrateError extends Error {
  readonly hint: string | undefined;
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    details: ErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.hint = details.hint;
  }
}

/** Bad command line or configuration: nothing was touched. */
export class UsageError extends OrchestrateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, ExitCode.Usage, details);
  }
}

/** A configuration file or environment that failed validation; lists every problem at once. */
export class ConfigError extends UsageError {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
  }
}

/** Preflight or a safety policy said no before anything was changed. */
export class RefusedError extends OrchestrateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, ExitCode.Refused, details);
  }
}

/** Another run holds the migration lock. */
export class LockedError extends OrchestrateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, ExitCode.Locked, details);
  }
}

/** An external program failed; keeps its whole stderr for the report. */
export class ToolError extends OrchestrateError {
  constructor(
    message: string,
    readonly stderr: string,
    exitCode: ExitCode = ExitCode.Internal,
    details: ErrorDetails = {},
  ) {
    super(message, exitCode, details);
  }
}

/** Something the code did not expect: a bug, or an environment we do not understand. */
export class InternalError extends OrchestrateError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, ExitCode.Internal, details);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

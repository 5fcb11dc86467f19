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

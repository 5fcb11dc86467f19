import { ExitCode } from '../errors.js';

/**
 * The exit code a command handler decided on (check's 8, a pipeline's 6...). yargs does not return
 * handler results, so handlers record it here and the CLI's error boundary, the only place that ends
 * the process, reads it.
 */
let decided: ExitCode = ExitCode.Success;

export function setCommandExitCode(code: ExitCode): void {
  decided = code;
}

export function commandExitCode(): ExitCode {
  return decided;
}

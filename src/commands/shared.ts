import type { SettingOverrides } from '../config/settings.js';
import { createRunContext, type RunContext } from '../context.js';
import { OrchestrateError, errorMessage, type ExitCode } from '../errors.js';
import type { ConsoleLevel, ConsoleMode } from '../log/logger.js';
import { redact, redactDeep } from '../util/redact.js';
import { setCommandExitCode } from './exitCode.js';
import type { GlobalArgs } from './options.js';

/** What a command produced: its exit code, its --json document and its human text. */
export interface CommandOutcome {
  readonly exitCode: ExitCode;
  readonly json: unknown;
  readonly text: string;
}

export interface CommandRun {
  readonly name: string;
  readonly args: GlobalArgs;
  /** Terminal verbosity: read-only commands show warnings only, long jobs show progress. */
  readonly consoleLevel?: ConsoleLevel;
  /** `events` for a long-running service whose stderr is its log (the daemon); default: the step view. */
  readonly consoleMode?: ConsoleMode;
  readonly overrides?: SettingOverrides;
}

/**
 * The shared shell of every command handler: settings, run log, the command's work, and printing
 * its outcome. Errors propagate to the CLI's single error boundary after being logged.
 */
export async function runCommand(run: CommandRun, work: (context: RunContext) => Promise<CommandOutcome>): Promise<void> {
  const context = createRunContext({
    command: run.name,
    flags: run.args,
    consoleLevel: run.args.json ? 'warn' : (run.consoleLevel ?? 'info'),
    // --json keeps the event stream on stderr as it always was; --verbose asks for it.
    consoleMode: run.args.json || run.args.verbose ? 'events' : (run.consoleMode ?? 'steps'),
    ...(run.overrides ? { overrides: run.overrides } : {}),
  });
  let outcome: CommandOutcome;
  try {
    outcome = await work(context);
  } catch (error) {
    context.closeConsole();
    // The error boundary prints the one line the user sees; the log file gets it too.
    context.fileLogger.error({ error: errorMessage(error), exitCode: error instanceof OrchestrateError ? error.exitCode : 1 }, `${run.name} failed`);
    throw error;
  }
  context.logger.debug({ exitCode: outcome.exitCode }, `${run.name} finished`);
  context.closeConsole();
  if (run.args.json) process.stdout.write(`${JSON.stringify(redactDeep(outcome.json), null, 2)}\n`);
  else if (outcome.text) process.stdout.write(`${redact(outcome.text)}\n`);
  setCommandExitCode(outcome.exitCode);
}

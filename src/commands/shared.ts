import type { Argv } from 'yargs';
import { ENVIRONMENTS, type Environment } from '../config/schema.js';
import type { SettingOverrides } from '../config/settings.js';
import { createRunContext, type RunContext } from '../context.js';
import { OrchestrateError, errorMessage, type ExitCode } from '../errors.js';
import type { ConsoleLevel, ConsoleMode } from '../log/logger.js';
import { redact, redactDeep } from '../util/redact.js';
import { setCommandExitCode } from './exitCode.js';

/** Flags every command accepts (CONTRACT.md). */
export interface GlobalArgs {
  readonly databaseUrl: string | undefined;
  readonly config: string | undefined;
  readonly env: Environment | undefined;
  readonly yes: boolean;
  readonly json: boolean;
  readonly backupDir: string | undefined;
  readonly logDir: string | undefined;
  readonly reportDir: string | undefined;
  readonly verbose: boolean;
}

export function globalOptions<T>(yargs: Argv<T>): Argv<T & GlobalArgs> {
  // yargs adds the camelCase keys (databaseUrl) at run time; its types only know the kebab-case ones.
  return yargs
    .option('database-url', { type: 'string', describe: 'target database (default: $DATABASE_URL)', requiresArg: true })
    .option('config', { type: 'string', describe: 'config file (default: ./orchestrate.config.json)', requiresArg: true })
    .option('env', { choices: ENVIRONMENTS, describe: 'environment (default: $ORCHESTRATE_ENV or production)', requiresArg: true })
    .option('yes', { type: 'boolean', default: false, describe: 'answer yes to confirmations (no prompts)' })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON document on stdout; human text goes to stderr' })
    .option('backup-dir', { type: 'string', describe: 'backup directory (default: $BACKUP_DIR or ./backups)', requiresArg: true })
    .option('log-dir', { type: 'string', describe: 'log directory (default: $LOG_DIR or ./logs)', requiresArg: true })
    .option('report-dir', { type: 'string', describe: 'report directory (default: $REPORT_DIR or ./reports)', requiresArg: true })
    .option('verbose', { type: 'boolean', default: false, describe: 'every event on the terminal instead of one line per step' }) as unknown as Argv<T & GlobalArgs>;
}

/**
 * A command's builder, typed with the arguments its handler reads. yargs's types know the kebab-case
 * keys it parses but not the camelCase ones it adds at run time (`--dry-run` -> `dryRun`), so the
 * declared argument type cannot be inferred; this is the one place that bridges the two.
 */
export function argsOf<T>(build: (yargs: Argv<GlobalArgs>) => Argv<object>): (yargs: Argv<GlobalArgs>) => Argv<T> {
  return build as unknown as (yargs: Argv<GlobalArgs>) => Argv<T>;
}

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

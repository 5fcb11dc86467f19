import type { Argv } from 'yargs';
import { ENVIRONMENTS, type Environment } from '../config/constants.js';

/**
 * What the command line's parser needs, and nothing more: the CLI loads this and the command
 * definitions at start-up; a command's handler, with the modules its work needs, is loaded only
 * when that command runs (lazyHandler).
 */

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

/**
 * A command's handler that loads its module when the command runs. Every command whose work needs
 * more than the parser goes through this, so `orchestrate --version`, `--help` and a usage error load
 * yargs and the definitions only, and each command loads only what its own work needs (the daemon no SQL parser, a pipeline
 * run no metrics registry or scheduler).
 */
export function lazyHandler<A>(load: () => Promise<(args: A) => Promise<void> | void>): (args: A) => Promise<void> {
  return async (args) => {
    const handler = await load();
    await handler(args);
  };
}

import type { Argv } from 'yargs';
import { MAX_REASON_LENGTH } from '../config/constants.js';
import type { SettingOverrides } from '../config/settings.js';
import { UsageError } from '../errors.js';

export interface PipelineArgs {
  readonly dryRun: boolean;
  readonly timeout: number | undefined;
  readonly lockTimeout: number | undefined;
  readonly lockRetries: number | undefined;
  readonly skipBackup: boolean;
  readonly skipTest: boolean;
  readonly force: boolean;
  readonly reason: string | undefined;
}

/** The flags of the migration pipeline commands (CONTRACT.md: upgrade). */
export function pipelineOptions<T>(yargs: Argv<T>): Argv<T & PipelineArgs> {
  // yargs adds the camelCase keys at run time; its types only know the kebab-case ones.
  return yargs
    .option('dry-run', { type: 'boolean', default: false, describe: 'show the plan, SQL and checks; change nothing' })
    .option('timeout', { type: 'number', describe: 'wall-clock limit for the migration, seconds (default 300)', requiresArg: true })
    .option('lock-timeout', { type: 'number', describe: 'lock_timeout of the migration session, ms (default 5000)', requiresArg: true })
    .option('lock-retries', { type: 'number', describe: 'retries of a migration that timed out on a lock and changed nothing (default 5; 0: off)', requiresArg: true })
    .option('skip-backup', { type: 'boolean', default: false, describe: 'no backup (and so no rehearsal); production needs --force' })
    .option('skip-test', { type: 'boolean', default: false, describe: 'no rehearsal on a scratch copy; production needs --force' })
    .option('force', { type: 'boolean', default: false, describe: 'allow skips and policy overrides in production (recorded)' })
    .option('reason', { type: 'string', describe: 'why: recorded in the report and audit line', requiresArg: true }) as unknown as Argv<T & PipelineArgs>;
}

/** The flags' values as setting overrides; their ranges are checked with the config keys' (config/schema.ts). */
export function pipelineOverrides(args: PipelineArgs): SettingOverrides {
  if (args.timeout !== undefined && Number.isNaN(args.timeout)) throw new UsageError('--timeout needs a number of seconds');
  if (args.lockTimeout !== undefined && Number.isNaN(args.lockTimeout)) throw new UsageError('--lock-timeout needs a number of milliseconds');
  if (args.lockRetries !== undefined && Number.isNaN(args.lockRetries)) throw new UsageError('--lock-retries needs a whole number');
  if (args.reason !== undefined && args.reason.length > MAX_REASON_LENGTH) {
    throw new UsageError(`--reason is ${args.reason.length} characters long; at most ${MAX_REASON_LENGTH} are recorded (say why in a sentence, link to the rest)`);
  }
  return { timeoutSeconds: args.timeout, lockTimeoutMs: args.lockTimeout, lockRetries: args.lockRetries };
}

import type { CommandModule } from 'yargs';
import { lazyHandler, type GlobalArgs } from './options.js';

export const failedDbsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'failed-dbs',
  describe: 'the <db>_failed_<run> databases restores kept, with size and age (the daemon drops them after rollback.keepFailedDays)',
  handler: lazyHandler(async () => (await import('./handlers/failedDbs.js')).failedDbs),
};

import type { CommandModule } from 'yargs';
import { lazyHandler, type GlobalArgs } from './options.js';

export const checkCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'check',
  describe: 'exit 0 when the database is up to date, 8 when migrations are pending',
  handler: lazyHandler(async () => (await import('./handlers/check.js')).check),
};

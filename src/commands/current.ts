import type { CommandModule } from 'yargs';
import { lazyHandler, type GlobalArgs } from './options.js';

export const currentCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'current',
  describe: "print the database's current migration revision",
  handler: lazyHandler(async () => (await import('./handlers/current.js')).current),
};

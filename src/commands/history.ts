import type { CommandModule } from 'yargs';
import { lazyHandler, type GlobalArgs } from './options.js';

export const historyCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'history',
  describe: 'list the migrations, oldest first (each after its parents), marked applied or pending',
  handler: lazyHandler(async () => (await import('./handlers/history.js')).history),
};

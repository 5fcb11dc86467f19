import type { CommandModule } from 'yargs';
import { lazyHandler, type GlobalArgs } from './options.js';

export const validateCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'validate',
  describe: 'run the post-migration validation against the database now (exit 3 when a check fails)',
  handler: lazyHandler(async () => (await import('./handlers/validate.js')).validate),
};

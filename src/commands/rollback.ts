import type { CommandModule } from 'yargs';
import { argsOf, lazyHandler, type GlobalArgs } from './options.js';
import { pipelineOptions, type PipelineArgs } from './pipelineOptions.js';

export type RollbackArgs = GlobalArgs & PipelineArgs & { readonly revision: string };

export const rollbackCommand: CommandModule<GlobalArgs, RollbackArgs> = {
  command: 'rollback <revision>',
  describe: 'safe rollback to revision: back up, downgrade, verify; restore from the backup if the downgrade fails',
  builder: argsOf<RollbackArgs>((yargs) => pipelineOptions(yargs).positional('revision', { type: 'string', demandOption: true, describe: 'the revision to return to (an id, -N, base)' })),
  handler: lazyHandler(async () => (await import('./handlers/migration.js')).rollback),
};

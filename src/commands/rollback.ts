import type { CommandModule } from 'yargs';
import { runMigrationCommand } from './migrationCommand.js';
import { pipelineOptions, type PipelineArgs } from './pipelineOptions.js';
import { argsOf, type GlobalArgs } from './shared.js';

type RollbackArgs = GlobalArgs & PipelineArgs & { readonly revision: string };

export const rollbackCommand: CommandModule<GlobalArgs, RollbackArgs> = {
  command: 'rollback <revision>',
  describe: 'safe rollback to revision: back up, downgrade, verify; restore from the backup if the downgrade fails',
  builder: argsOf<RollbackArgs>((yargs) => pipelineOptions(yargs).positional('revision', { type: 'string', demandOption: true, describe: 'the revision to return to (an id, -N, base)' })),
  // An emergency path: no rehearsal unless asked for with downgrade.
  handler: (args) => runMigrationCommand(args, { command: 'rollback', direction: 'downgrade', targetSpec: args.revision, skipRehearsal: true }),
};

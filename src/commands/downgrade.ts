import type { CommandModule } from 'yargs';
import { runMigrationCommand } from './migrationCommand.js';
import { pipelineOptions, type PipelineArgs } from './pipelineOptions.js';
import { argsOf, type GlobalArgs } from './shared.js';

type DowngradeArgs = GlobalArgs & PipelineArgs & { readonly target: string };

export const downgradeCommand: CommandModule<GlobalArgs, DowngradeArgs> = {
  command: 'downgrade <target>',
  describe: 'the same pipeline in reverse (-1 = one step back, base = everything)',
  builder: argsOf<DowngradeArgs>((yargs) => pipelineOptions(yargs).positional('target', { type: 'string', demandOption: true, describe: 'revision: an id, -N, base' })),
  handler: (args) => runMigrationCommand(args, { command: 'downgrade', direction: 'downgrade', targetSpec: args.target }),
};

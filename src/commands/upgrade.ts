import type { CommandModule } from 'yargs';
import { runMigrationCommand } from './migrationCommand.js';
import { pipelineOptions, type PipelineArgs } from './pipelineOptions.js';
import { argsOf, type GlobalArgs } from './shared.js';

type UpgradeArgs = GlobalArgs & PipelineArgs & { readonly target: string };

export const upgradeCommand: CommandModule<GlobalArgs, UpgradeArgs> = {
  command: 'upgrade [target]',
  describe: 'the full pipeline to target (default head): backup, rehearsal, migrate, validate, roll back on failure',
  builder: argsOf<UpgradeArgs>((yargs) => pipelineOptions(yargs).positional('target', { type: 'string', default: 'head', describe: 'revision: head, an id, +N' })),
  handler: (args) => runMigrationCommand(args, { command: 'upgrade', direction: 'upgrade', targetSpec: args.target }),
};

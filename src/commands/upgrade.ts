import type { CommandModule } from 'yargs';
import { argsOf, lazyHandler, type GlobalArgs } from './options.js';
import { pipelineOptions, type PipelineArgs } from './pipelineOptions.js';

export type UpgradeArgs = GlobalArgs & PipelineArgs & { readonly target: string };

export const upgradeCommand: CommandModule<GlobalArgs, UpgradeArgs> = {
  command: 'upgrade [target]',
  describe: 'the full pipeline to target (default head): backup, rehearsal, migrate, validate, roll back on failure',
  builder: argsOf<UpgradeArgs>((yargs) => pipelineOptions(yargs).positional('target', { type: 'string', default: 'head', describe: 'revision: head, an id, +N' })),
  handler: lazyHandler(async () => (await import('./handlers/migration.js')).upgrade),
};

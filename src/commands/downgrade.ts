import type { CommandModule } from 'yargs';
import { argsOf, lazyHandler, type GlobalArgs } from './options.js';
import { pipelineOptions, type PipelineArgs } from './pipelineOptions.js';

export type DowngradeArgs = GlobalArgs & PipelineArgs & { readonly target: string };

export const downgradeCommand: CommandModule<GlobalArgs, DowngradeArgs> = {
  command: 'downgrade <target>',
  describe: 'the same pipeline in reverse (-1 = one step back, base = everything)',
  builder: argsOf<DowngradeArgs>((yargs) => pipelineOptions(yargs).positional('target', { type: 'string', demandOption: true, describe: 'revision: an id, -N, base' })),
  handler: lazyHandler(async () => (await import('./handlers/migration.js')).downgrade),
};

import type { CommandModule } from 'yargs';
import { argsOf, lazyHandler, type GlobalArgs } from './options.js';

export type DemoArgs = GlobalArgs & { readonly workspace: string | undefined };

/** The demo makes its own database and project, so it does not read settings or open a run log of its own. */
export const demoCommand: CommandModule<GlobalArgs, DemoArgs> = {
  command: 'demo',
  describe: 'the whole pipeline against a throwaway local PostgreSQL with a sample app',
  builder: argsOf<DemoArgs>((yargs) => yargs.option('workspace', { type: 'string', describe: 'directory for the demo project, backups, logs and reports (default: a new temporary one)', requiresArg: true })),
  handler: lazyHandler(async () => (await import('./handlers/demo.js')).demo),
};

import type { CommandModule } from 'yargs';
import { runDemo } from '../demo/demo.js';
import { ExitCode } from '../errors.js';
import { setCommandExitCode } from './exitCode.js';
import { argsOf, type GlobalArgs } from './shared.js';

type DemoArgs = GlobalArgs & { readonly workspace: string | undefined };

/** The demo makes its own database and project, so it does not read settings or open a run log of its own. */
export const demoCommand: CommandModule<GlobalArgs, DemoArgs> = {
  command: 'demo',
  describe: 'the whole pipeline against a throwaway local PostgreSQL with a sample app',
  builder: argsOf<DemoArgs>((yargs) => yargs.option('workspace', { type: 'string', describe: 'directory for the demo project, backups, logs and reports (default: a new temporary one)', requiresArg: true })),
  handler: async (args) => {
    const result = await runDemo({ ...(args.workspace ? { workspace: args.workspace } : {}), say: (line) => process.stderr.write(`${line}\n`) });
    if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    setCommandExitCode(ExitCode.Success);
  },
};

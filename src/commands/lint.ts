import type { CommandModule } from 'yargs';
import { argsOf, lazyHandler, type GlobalArgs } from './options.js';

export type LintArgs = GlobalArgs & { readonly target: string; readonly rehearse: boolean };

export const lintCommand: CommandModule<GlobalArgs, LintArgs> = {
  command: 'lint [target]',
  describe: 'safety findings for the pending migrations up to target (default head): squawk, destructive changes, code references; exit 3 when one blocks',
  builder: argsOf<LintArgs>((yargs) =>
    yargs
      .positional('target', { type: 'string', default: 'head', describe: 'revision: head, an id, +N' })
      .option('rehearse', { type: 'boolean', default: false, describe: 'also rehearse on a scratch copy and judge the locks and rewrites it measured' })),
  handler: lazyHandler(async () => (await import('./handlers/lint.js')).lint),
};

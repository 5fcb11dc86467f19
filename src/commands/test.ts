import type { CommandModule } from 'yargs';
import { argsOf, lazyHandler, type GlobalArgs } from './options.js';

export type TestArgs = GlobalArgs & { readonly target: string; readonly timeout: number | undefined; readonly lockTimeout: number | undefined };

export const testCommand: CommandModule<GlobalArgs, TestArgs> = {
  command: 'test [target]',
  describe: 'on a scratch copy only: upgrade, validate, downgrade, compare, upgrade again, compare (exit 5 on a difference)',
  builder: argsOf<TestArgs>((yargs) =>
    yargs
      .positional('target', { type: 'string', default: 'head', describe: 'revision to test up to' })
      .option('timeout', { type: 'number', describe: 'wall-clock limit per tool run, seconds', requiresArg: true })
      .option('lock-timeout', { type: 'number', describe: 'lock_timeout of the tool sessions, ms', requiresArg: true })),
  handler: lazyHandler(async () => (await import('./handlers/test.js')).test),
};

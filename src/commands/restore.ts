import type { CommandModule } from 'yargs';
import { argsOf, lazyHandler, type GlobalArgs } from './options.js';

export type RestoreArgs = GlobalArgs & {
  readonly id: string;
  readonly into: string | undefined;
  readonly allowSource: boolean;
  readonly keepReplacedAs: string | undefined;
};

export const restoreCommand: CommandModule<GlobalArgs, RestoreArgs> = {
  command: 'restore <id>',
  describe: 'restore a verified backup into a new database, or over an existing one (after a pre-restore backup)',
  builder: argsOf<RestoreArgs>((yargs) =>
    yargs
      .positional('id', { type: 'string', demandOption: true, describe: 'backup id or name' })
      .option('into', { type: 'string', requiresArg: true, describe: "database on the target's server to restore into (default: the target database)" })
      .option('allow-source', { type: 'boolean', default: false, describe: 'allow restoring into the database the backup was taken from' })
      .option('keep-replaced-as', { type: 'string', requiresArg: true, describe: 'keep the replaced database under this name instead of dropping it' })),
  handler: lazyHandler(async () => (await import('./handlers/restore.js')).restoreBackup),
};

import type { CommandModule } from 'yargs';
import { argsOf, lazyHandler, type GlobalArgs } from './options.js';

export type BackupArgs = GlobalArgs & { readonly name: string | undefined; readonly verify: boolean };

export const backupCommand: CommandModule<GlobalArgs, BackupArgs> = {
  command: 'backup',
  describe: 'dump the database into the backup store (archive + manifest, mode 0600) under the migration lock, then verify it',
  builder: argsOf<BackupArgs>((yargs) =>
    yargs
      .option('name', { type: 'string', requiresArg: true, describe: 'a label for the backup (letters, digits, . _ -); usable instead of its id' })
      .option('verify', { type: 'boolean', default: true, describe: 'read the whole archive back after writing it (--no-verify skips)' })),
  handler: lazyHandler(async () => (await import('./handlers/backup.js')).backup),
};

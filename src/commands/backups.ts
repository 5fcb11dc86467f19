import type { Argv, CommandModule } from 'yargs';
import { argsOf, lazyHandler, type GlobalArgs } from './options.js';

const listCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'the backups in the store, newest first, and any orphan files',
  handler: lazyHandler(async () => (await import('./handlers/backups.js')).backupsList),
};

export type ShowArgs = GlobalArgs & { readonly id: string };

const showCommand: CommandModule<GlobalArgs, ShowArgs> = {
  command: 'show <id>',
  describe: "a backup's manifest (id or name)",
  builder: argsOf<ShowArgs>((yargs) => yargs.positional('id', { type: 'string', demandOption: true, describe: 'backup id or name' })),
  handler: lazyHandler(async () => (await import('./handlers/backups.js')).backupsShow),
};

export type VerifyArgs = GlobalArgs & { readonly id: string | undefined; readonly all: boolean };

const verifyCommand: CommandModule<GlobalArgs, VerifyArgs> = {
  command: 'verify [id]',
  describe: 'recompute the checksum and read the whole archive; exit 3 naming each bad backup',
  builder: argsOf<VerifyArgs>((yargs) =>
    (yargs as Argv<GlobalArgs>)
      .positional('id', { type: 'string', describe: 'backup id or name' })
      .option('all', { type: 'boolean', default: false, describe: 'verify every backup in the store' })),
  handler: lazyHandler(async () => (await import('./handlers/backups.js')).backupsVerify),
};

export type PruneArgs = GlobalArgs & { readonly dryRun: boolean };

const pruneCommand: CommandModule<GlobalArgs, PruneArgs> = {
  command: 'prune',
  describe: 'delete backups past retentionDays, keeping the newest keepLast, the newest verified, and any a failed or unfinished run holds',
  builder: argsOf<PruneArgs>((yargs) => yargs.option('dry-run', { type: 'boolean', default: false, describe: 'list what would be deleted; delete nothing' })),
  handler: lazyHandler(async () => (await import('./handlers/backups.js')).backupsPrune),
};

export const backupsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'backups <command>',
  describe: 'the backup store: list | show ID | verify ID|--all | prune [--dry-run]',
  builder: argsOf<GlobalArgs>((yargs) => yargs.command(listCommand).command(showCommand).command(verifyCommand).command(pruneCommand).demandCommand(1, 'name a backups subcommand: list, show, verify or prune')),
  handler: () => undefined,
};

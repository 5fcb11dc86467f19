import type { Argv, CommandModule } from 'yargs';
import { listBackups, pruneBackups, readManifest, verifyBackup, type BackupManifest, type VerifyResult } from '../backup/index.js';
import { formatBytes } from '../backup/progress.js';
import { ExitCode, UsageError } from '../errors.js';
import { argsOf, runCommand, type GlobalArgs } from './shared.js';

function verifiedLabel(manifest: BackupManifest): string {
  if (!manifest.verification) return 'never';
  return `${manifest.verification.ok ? 'ok' : 'FAILED'} ${manifest.verification.checkedAt.slice(0, 16).replace('T', ' ')}`;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}

function problemLines(problems: readonly string[]): string[] {
  return problems.length > 0 ? ['', `problems (${problems.length}):`, ...problems.map((problem) => `  ${problem}`)] : [];
}

const listCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'the backups in the store, newest first, and any orphan files',
  handler: (args) =>
    runCommand({ name: 'backups list', args, consoleLevel: 'warn' }, async (context) => {
      const { manifests, problems } = await listBackups(context.settings.backupDir);
      const rows = [
        ['ID', 'CREATED', 'REASON', 'REVISION', 'SIZE', 'FORMAT', 'VERIFIED', 'NAME'],
        ...manifests.map((m) => [m.id, m.createdAt.slice(0, 19).replace('T', ' '), m.reason, m.revision ?? '-', formatBytes(m.bytes), m.format, verifiedLabel(m), m.name ?? '']),
      ];
      const text = manifests.length > 0 ? table(rows) : `no backups in ${context.settings.backupDir}`;
      return { exitCode: ExitCode.Success, json: { backupDir: context.settings.backupDir, backups: manifests, problems }, text: [text, ...problemLines(problems)].join('\n') };
    }),
};

type ShowArgs = GlobalArgs & { readonly id: string };

const showCommand: CommandModule<GlobalArgs, ShowArgs> = {
  command: 'show <id>',
  describe: "a backup's manifest (id or name)",
  builder: argsOf<ShowArgs>((yargs) => yargs.positional('id', { type: 'string', demandOption: true, describe: 'backup id or name' })),
  handler: (args) =>
    runCommand({ name: 'backups show', args, consoleLevel: 'warn' }, async (context) => {
      const manifest = await readManifest(context.settings.backupDir, args.id);
      const fields: [string, string][] = [
        ['id', manifest.id],
        ['name', manifest.name ?? '-'],
        ['archive', manifest.archive],
        ['database', manifest.database],
        ['created', manifest.createdAt],
        ['reason', manifest.reason],
        ['run', manifest.runId],
        ['revision', manifest.revision ?? '-'],
        ['format', `${manifest.format}${manifest.compressionLevel !== undefined ? `, compression ${manifest.compressionLevel}` : ''}`],
        ['size', `${formatBytes(manifest.bytes)} (${manifest.bytes} bytes)`],
        ['sha256', manifest.sha256],
        ['duration', `${(manifest.durationMs / 1000).toFixed(1)}s`],
        ['versions', `server ${manifest.serverVersion}, pg_dump ${manifest.pgDumpVersion}`],
        ['verified', verifiedLabel(manifest) + (manifest.verification?.problems.length ? `: ${manifest.verification.problems.join('; ')}` : '')],
        ['tables', String(manifest.tables.length)],
      ];
      const tables = manifest.tables.map((t) => `  ${`${t.schema}.${t.name}`.padEnd(40)} ~${t.estimatedRows} rows`);
      return { exitCode: ExitCode.Success, json: manifest, text: [...fields.map(([key, value]) => `${key.padEnd(9)} ${value}`), ...tables].join('\n') };
    }),
};

type VerifyArgs = GlobalArgs & { readonly id: string | undefined; readonly all: boolean };

const verifyCommand: CommandModule<GlobalArgs, VerifyArgs> = {
  command: 'verify [id]',
  describe: 'recompute the checksum and read the whole archive; exit 3 naming each bad backup',
  builder: argsOf<VerifyArgs>((yargs) =>
    (yargs as Argv<GlobalArgs>)
      .positional('id', { type: 'string', describe: 'backup id or name' })
      .option('all', { type: 'boolean', default: false, describe: 'verify every backup in the store' })),
  handler: (args) =>
    runCommand({ name: 'backups verify', args }, async (context) => {
      if ((args.id === undefined) === !args.all) throw new UsageError('backups verify needs a backup id or --all (not both)');
      const backupDir = context.settings.backupDir;
      let ids: string[];
      let problems: string[] = [];
      let damaged: string[] = [];
      if (args.all) {
        const listing = await listBackups(backupDir);
        ids = listing.manifests.map((manifest) => manifest.id);
        problems = listing.problems;
        // A manifest whose archive is gone (or that cannot be read) is a backup that fails; stray files only warn.
        damaged = listing.damaged;
      } else {
        ids = [(await readManifest(backupDir, args.id ?? '')).id];
      }
      const results: VerifyResult[] = [];
      for (const id of ids) results.push(await verifyBackup(context, id));
      const bad = results.filter((result) => !result.ok);
      const ok = bad.length === 0 && damaged.length === 0;
      const lines = [
        ...results.map((result) => (result.ok ? `ok      ${result.id}` : `FAILED  ${result.id}: ${result.problems.join('; ')}`)),
        ...(args.all && results.length === 0 ? [`no backups in ${backupDir}`] : []),
        ...problemLines(problems),
      ];
      const badNames = [...bad.map((result) => result.id), ...damaged];
      if (!ok) lines.push(`${badNames.length} bad backup${badNames.length === 1 ? '' : 's'}: ${badNames.join(', ')}`);
      return { exitCode: ok ? ExitCode.Success : ExitCode.Refused, json: { ok, results, problems }, text: lines.join('\n') };
    }),
};

type PruneArgs = GlobalArgs & { readonly dryRun: boolean };

const pruneCommand: CommandModule<GlobalArgs, PruneArgs> = {
  command: 'prune',
  describe: 'delete backups past retentionDays, keeping the newest keepLast, the newest verified, and any a failed or unfinished run holds',
  builder: argsOf<PruneArgs>((yargs) => yargs.option('dry-run', { type: 'boolean', default: false, describe: 'list what would be deleted; delete nothing' })),
  handler: (args) =>
    runCommand({ name: 'backups prune', args }, async (context) => {
      const result = await pruneBackups(context, { dryRun: args.dryRun });
      const verb = args.dryRun ? 'would delete' : 'deleted';
      const lines = [
        ...result.deleted.map((m) => `${verb.padEnd(12)} ${m.id}  ${m.createdAt.slice(0, 10)}  ${formatBytes(m.bytes)}`),
        ...result.kept.map(({ manifest, reason }) => `${'kept'.padEnd(12)} ${manifest.id}  ${manifest.createdAt.slice(0, 10)}  ${reason}`),
        `${result.deleted.length} ${verb}, ${result.kept.length} kept${args.dryRun ? ' (dry run: nothing was deleted)' : ''}`,
        ...problemLines(result.problems),
      ];
      return {
        exitCode: ExitCode.Success,
        json: {
          dryRun: args.dryRun,
          deleted: result.deleted.map((m) => m.id),
          kept: result.kept.map(({ manifest, reason }) => ({ id: manifest.id, reason })),
          problems: result.problems,
        },
        text: lines.join('\n'),
      };
    }),
};

export const backupsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'backups <command>',
  describe: 'the backup store: list | show ID | verify ID|--all | prune [--dry-run]',
  builder: argsOf<GlobalArgs>((yargs) => yargs.command(listCommand).command(showCommand).command(verifyCommand).command(pruneCommand).demandCommand(1, 'name a backups subcommand: list, show, verify or prune')),
  handler: () => undefined,
};

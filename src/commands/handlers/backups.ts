import { listBackups, pruneBackups, readManifest, verifyBackup, type BackupManifest, type VerifyResult } from '../../backup/index.js';
import { formatBytes } from '../../backup/progress.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { PruneArgs, ShowArgs, VerifyArgs } from '../backups.js';
import type { GlobalArgs } from '../options.js';
import { runCommand } from '../shared.js';

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

export function backupsList(args: GlobalArgs): Promise<void> {
  return runCommand({ name: 'backups list', args, consoleLevel: 'warn' }, async (context) => {
    const { manifests, problems } = await listBackups(context.settings.backupDir);
    const rows = [
      ['ID', 'CREATED', 'REASON', 'REVISION', 'SIZE', 'FORMAT', 'VERIFIED', 'NAME'],
      ...manifests.map((m) => [m.id, m.createdAt.slice(0, 19).replace('T', ' '), m.reason, m.revision ?? '-', formatBytes(m.bytes), m.format, verifiedLabel(m), m.name ?? '']),
    ];
    const text = manifests.length > 0 ? table(rows) : `no backups in ${context.settings.backupDir}`;
    return { exitCode: ExitCode.Success, json: { backupDir: context.settings.backupDir, backups: manifests, problems }, text: [text, ...problemLines(problems)].join('\n') };
  });
}

export function backupsShow(args: ShowArgs): Promise<void> {
  return runCommand({ name: 'backups show', args, consoleLevel: 'warn' }, async (context) => {
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
  });
}

export function backupsVerify(args: VerifyArgs): Promise<void> {
  return runCommand({ name: 'backups verify', args }, async (context) => {
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
  });
}

export function backupsPrune(args: PruneArgs): Promise<void> {
  return runCommand({ name: 'backups prune', args }, async (context) => {
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
  });
}

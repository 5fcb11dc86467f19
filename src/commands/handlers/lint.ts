import { describeTarget } from '../../db/target.js';
import { ExitCode } from '../../errors.js';
import { blockingFindings, lintMigrations, type LintFinding } from '../../lint/index.js';
import { pendingUpgrades, resolveTarget, stateAt } from '../../migrators/plan.js';
import { migrationStatus } from '../../migrators/status.js';
import { rehearseForFindings } from '../../pipeline/rehearseOnly.js';
import type { LintArgs } from '../lint.js';
import { runCommand } from '../shared.js';

function findingsTable(findings: readonly LintFinding[]): string[] {
  const width = (pick: (finding: LintFinding) => string) => Math.max(...findings.map((finding) => pick(finding).length));
  const rule = width((finding) => finding.rule);
  const migration = width((finding) => finding.migration ?? '-');
  const table = width((finding) => finding.table ?? '-');
  return findings.map((finding) =>
    [
      finding.severity.toUpperCase().padEnd(5),
      finding.rule.padEnd(rule),
      (finding.migration ?? '-').padEnd(migration),
      (finding.table ?? '-').padEnd(table),
      `${finding.message}${finding.link ? ` (${finding.link})` : ''}`,
    ].join('  '),
  );
}

function summary(findings: readonly LintFinding[], migrations: number): string {
  const count = (severity: LintFinding['severity']) => findings.filter((finding) => finding.severity === severity).length;
  const scope = `${migrations} migration${migrations === 1 ? '' : 's'}`;
  if (findings.length === 0) return `${scope} linted: no findings`;
  const blocking = count('block');
  return `${scope} linted: ${count('block')} block, ${count('warn')} warn, ${count('info')} info${blocking > 0 ? ' - blocked (change the migration, or run it with --force --reason "...")' : ''}`;
}

export function lint(args: LintArgs): Promise<void> {
  return runCommand({ name: 'lint', args, consoleLevel: 'warn' }, async (context) => {
    const target = context.target();
    const migrator = context.migrator();
    const status = await migrationStatus(migrator, target, context.toolSession());
    const migrations = await migrator.migrations();
    const to = resolveTarget(migrations, status.current, args.target);
    const nothing = to === null || pendingUpgrades(migrations, stateAt(migrations, status.current), to).length === 0;
    const { rendered, ...found } = nothing ? { rendered: [], migrations: [], findings: [], destructive: [], codeReferences: [] } : await lintMigrations(context, target, { from: status.current, to });
    const measured = args.rehearse && !nothing ? await rehearseForFindings(context, args.target) : undefined;
    const report = {
      ...found,
      findings: [...found.findings, ...(measured?.findings ?? [])],
      cannotPreview: rendered.flatMap((entry) => (entry.cannotPreview === undefined ? [] : [{ migration: entry.migration, reason: entry.cannotPreview }])),
    };
    const blocking = blockingFindings(report.findings).length;
    return {
      exitCode: blocking > 0 ? ExitCode.Refused : ExitCode.Success,
      json: {
        database: describeTarget(target),
        current: status.current,
        target: to,
        blocking,
        ...report,
        ...(measured?.rehearsal ? { rehearsal: { locks: measured.rehearsal.locks, rewrittenTables: measured.rehearsal.rewrittenTables, migrateMs: measured.rehearsal.migrateMs } } : {}),
      },
      text: nothing
        ? `nothing to lint: no pending migration up to ${to ?? 'base'}`
        : [...findingsTable(report.findings), summary(report.findings, report.migrations.length)].join('\n'),
    };
  });
}

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunContext } from '../context.js';
import { withClient } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import { runSquawk, squawkRuleLink, type SquawkViolation } from '../exec/squawk.js';
import { bookkeepingTables, renderUpgrades, type RenderedMigration } from './render.js';
import { disabledRules, severityOf, severityTable } from './severities.js';
import { blankStatements, isBookkeeping, parserFor, qualifiedName, relationsIn, type SqlParser, type Statement } from './sql.js';
import type { LintFinding } from './types.js';

/** squawk judges some rules by the server version (ADD COLUMN ... DEFAULT rewrites only before 11). */
export async function serverVersion(target: DbTarget, applicationName: string): Promise<string> {
  const result = await withClient(target, applicationName, (client) => client.query<{ server_version_num: string }>('SHOW server_version_num'));
  const number = Number(result.rows[0]?.server_version_num ?? 0);
  return number >= 100_000 ? `${Math.floor(number / 10_000)}.${number % 10_000}` : `${Math.floor(number / 10_000)}.${Math.floor(number / 100) % 100}`;
}

/** Static lint of the migrations an upgrade from `range.from` to `range.to` would apply. */
export async function lintStatic(context: RunContext, target: DbTarget, range: { from: string | null; to: string }): Promise<LintFinding[]> {
  const rendered = await renderUpgrades(context, target, range);
  return lintRendered(context, target, rendered, await parserFor(rendered.map((entry) => entry.sql)));
}

interface LintedFile {
  readonly migration: string;
  readonly sql: string;
  /** The statements squawk saw (bookkeeping already blanked out); empty when the SQL did not parse. */
  readonly statements: readonly Statement[];
}

/** squawk over already rendered migrations, one file each, so every finding names its migration. */
export async function lintRendered(context: RunContext, target: DbTarget, rendered: readonly RenderedMigration[], parse: SqlParser): Promise<LintFinding[]> {
  const findings: LintFinding[] = rendered
    .filter((entry) => entry.sql === undefined)
    .map((entry) =>
      entry.cannotPreview !== undefined
        ? { source: 'static', rule: 'cannot-preview', severity: 'warn', migration: entry.migration, message: `${previewFailure(entry.cannotPreview)}; only the rehearsal can judge it` }
        : {
            source: 'static',
            rule: 'not-rendered',
            severity: 'info',
            migration: entry.migration,
            message: `${context.settings.migrator.tool} cannot show this migration's SQL without running it; only the rehearsal can judge it`,
          },
    );
  const withSql = rendered.filter((entry): entry is RenderedMigration & { sql: string } => entry.sql !== undefined && entry.sql.trim() !== '');
  if (withSql.length === 0) return findings;

  const table = severityTable(context.settings.policy.severities);
  const bookkeeping = bookkeepingTables(context.settings);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'orchestrate-lint-'));
  try {
    const files = new Map<string, LintedFile>();
    for (const [index, entry] of withSql.entries()) {
      const parsed = await parse(entry.sql);
      const statements = parsed.ok ? parsed.statements : [];
      const ignored = statements.filter((statement) => isBookkeeping(statement, bookkeeping));
      const sql = blankStatements(entry.sql, ignored);
      const file = `${String(index + 1).padStart(4, '0')}.sql`;
      await writeFile(path.join(dir, file), sql);
      files.set(file, { migration: entry.migration, sql, statements: statements.filter((statement) => !ignored.includes(statement)) });
    }
    // An empty config file here stops squawk from picking up a .squawk.toml from a directory above.
    await writeFile(path.join(dir, '.squawk.toml'), '');
    const violations = await runSquawk({
      files: [...files.keys()],
      cwd: dir,
      pgVersion: await serverVersion(target, context.applicationName),
      exclude: disabledRules(table),
    });
    context.logger.debug({ violations: violations.length, migrations: files.size }, 'squawk finished');
    for (const violation of violations) {
      const severity = severityOf(table, violation.rule);
      const file = files.get(violation.file);
      if (severity === 'off' || !file) continue;
      const statement = statementAt(file, violation);
      const relation = statement ? relationsIn(statement)[0] : undefined;
      findings.push({
        source: 'static',
        rule: violation.rule,
        severity,
        migration: file.migration,
        ...(relation ? { table: qualifiedName(relation) } : {}),
        message: violation.help ? `${violation.message} ${violation.help}` : violation.message,
        link: squawkRuleLink(violation.rule),
        ...(statement ? { sql: statement.text } : {}),
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const order = new Map(rendered.map((entry, index) => [entry.migration, index]));
  return findings.sort((a, b) => (order.get(a.migration ?? '') ?? 0) - (order.get(b.migration ?? '') ?? 0));
}

/** How a migration that cannot be rendered offline is named everywhere: terminal, dry run, lint, report. */
export function previewFailure(reason: string): string {
  return `cannot be previewed offline: ${reason}`;
}

/** The statement a violation points into (squawk counts lines and columns from 0). */
function statementAt(file: LintedFile, violation: SquawkViolation): Statement | undefined {
  const lines = file.sql.split('\n');
  let offset = violation.column;
  for (let line = 0; line < violation.line && line < lines.length; line += 1) offset += (lines[line]?.length ?? 0) + 1;
  return file.statements.find((statement) => offset >= statement.start && offset <= statement.end);
}

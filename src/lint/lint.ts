import path from 'node:path';
import type { RunContext } from '../context.js';
import type { DbTarget } from '../db/target.js';
import { findCodeReferences, type CodeReference } from './codeReferences.js';
import { analyzeDestructive, describeChange, sqlChanges } from './destructive.js';
import { bookkeepingTables, renderUpgrades, type RenderedMigration } from './render.js';
import { parserFor, type SqlParser } from './sql.js';
import { lintRendered } from './static.js';
import type { DestructiveChange, LintFinding } from './types.js';

/** Everything the safety analysis can say about an upgrade range without running it. */
export interface LintReport {
  /** The migrations looked at, in the order they run. */
  readonly migrations: readonly string[];
  /** Each migration's SQL as rendered offline, or why it could not be. */
  readonly rendered: readonly RenderedMigration[];
  readonly findings: readonly LintFinding[];
  readonly destructive: readonly DestructiveChange[];
  /** Removed or renamed names still mentioned in `safety.sourceDirs` (only names with files). */
  readonly codeReferences: readonly (CodeReference & { readonly migration: string })[];
}

/** A name the application may still use after the migration: dropped or renamed. */
interface RemovedName {
  readonly name: string;
  readonly what: string;
  readonly migration: string;
}

async function removedNames(context: RunContext, rendered: readonly RenderedMigration[], destructive: readonly DestructiveChange[], parse: SqlParser): Promise<RemovedName[]> {
  const names: RemovedName[] = [];
  const unqualified = (table: string) => table.split('.').at(-1) ?? table;
  for (const change of destructive) {
    const migration = change.migration ?? '';
    if (change.kind === 'drop-table') names.push({ name: unqualified(change.table), what: `table ${change.table} is dropped`, migration });
    if (change.kind === 'drop-column' && change.column) names.push({ name: change.column, what: `column ${change.table}.${change.column} is dropped`, migration });
  }
  const bookkeeping = bookkeepingTables(context.settings);
  for (const entry of rendered) {
    if (entry.sql === undefined) continue;
    for (const rename of (await sqlChanges(entry.sql, bookkeeping, parse)).renames) {
      const table = rename.relation.schema ? `${rename.relation.schema}.${rename.relation.name}` : rename.relation.name;
      if (rename.kind === 'table') names.push({ name: rename.relation.name, what: `table ${table} is renamed to ${rename.newName}`, migration: entry.migration });
      else if (rename.column) names.push({ name: rename.column, what: `column ${table}.${rename.column} is renamed to ${rename.newName}`, migration: entry.migration });
    }
  }
  return names;
}

/** Source files are listed relative to the config file's directory: short, and what a person would type. */
function displayPath(file: string, base: string): string {
  const relative = path.relative(base, file);
  return relative.startsWith('..') ? file : relative;
}

/**
 * Static lint (squawk), destructive-change analysis with row counts, and the code reference check,
 * for the migrations an upgrade from `range.from` to `range.to` would apply.
 */
export async function lintMigrations(context: RunContext, target: DbTarget, range: { from: string | null; to: string }): Promise<LintReport> {
  const rendered = await renderUpgrades(context, target, range);
  // Every analysis below reads the same statements: one parser child for all of them.
  const parse = await parserFor(rendered.map((entry) => entry.sql));
  const findings: LintFinding[] = await lintRendered(context, target, rendered, parse);

  const destructive: DestructiveChange[] = [];
  for (const entry of rendered) {
    if (entry.sql !== undefined) destructive.push(...(await analyzeDestructive(context, target, entry.sql, entry.migration, parse)));
  }
  for (const change of destructive) {
    findings.push({
      source: 'destructive',
      rule: change.kind,
      severity: 'warn',
      ...(change.migration !== undefined ? { migration: change.migration } : {}),
      table: change.table,
      message: describeChange(change),
      sql: change.statement,
    });
  }

  const safety = context.settings.safety;
  const codeReferences: (CodeReference & { migration: string })[] = [];
  if (safety.sourceDirs.length > 0) {
    const base = context.settings.configFile ? path.dirname(context.settings.configFile) : process.cwd();
    const removed = await removedNames(context, rendered, destructive, parse);
    const references = await findCodeReferences(
      safety.sourceDirs.map((dir) => path.resolve(base, dir)),
      removed.map((entry) => entry.name),
      { ignore: safety.ignore.map((entry) => (entry.includes('/') ? path.resolve(base, entry) : entry)), maxFileBytes: safety.maxFileBytes },
    );
    const filesOf = new Map(references.map((reference) => [reference.name, reference.files]));
    for (const entry of removed) {
      const files = filesOf.get(entry.name) ?? [];
      if (files.length === 0) continue;
      const shown = files.map((file) => displayPath(file, base));
      codeReferences.push({ name: entry.name, files: shown, migration: entry.migration });
      findings.push({
        source: 'code-reference',
        rule: 'code-reference',
        severity: safety.codeReferences,
        migration: entry.migration,
        message: `${entry.what} but "${entry.name}" still appears in ${shown.length === 1 ? '' : `${shown.length} files: `}${shown.slice(0, 5).join(', ')}${shown.length > 5 ? ', ...' : ''}`,
      });
    }
  }
  const order = new Map(rendered.map((entry, index) => [entry.migration, index]));
  findings.sort((a, b) => (order.get(a.migration ?? '') ?? -1) - (order.get(b.migration ?? '') ?? -1));
  return { migrations: rendered.map((entry) => entry.migration), rendered, findings, destructive, codeReferences };
}

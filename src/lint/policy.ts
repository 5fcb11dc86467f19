import type { Environment } from '../config/schema.js';
import { RefusedError, UsageError } from '../errors.js';
import { describeChange } from './destructive.js';
import type { RuleSeverity } from './severities.js';
import type { DestructiveChange, DestructiveKind, LintFinding, Severity } from './types.js';

/** What the rehearsal measured, per table (the pipeline's lock trace and rewrite detection), and what it destroyed. */
export interface RehearsalTrace {
  readonly locks: readonly { readonly table: string; readonly strongestMode: string; readonly strongestHeldMs: number }[];
  readonly rewrittenTables: readonly string[];
  readonly rowCounts: Readonly<Record<string, number>>;
  /** Dropped tables and columns and narrowed types, from the scratch copy's catalog (rehearsed.ts). */
  readonly destroyed?: readonly DestructiveChange[];
}

export interface RehearsalPolicy {
  /** Longest an ACCESS EXCLUSIVE lock may be held (seed 004: "doesn't lock tables for > 1 second"). */
  readonly lockBudgetMs: number;
  /** Largest table (in rows) a migration may rewrite. */
  readonly rewriteRowLimit: number;
  /** policy.severities: the configured overrides of squawk's rules. */
  readonly severities?: Readonly<Partial<Record<string, RuleSeverity>>>;
}

/** The squawk rule whose configured severity also governs what the rehearsal found destroyed. */
const RULE_OF_KIND: Readonly<Partial<Record<DestructiveKind, string>>> = { 'drop-table': 'ban-drop-table', 'drop-column': 'ban-drop-column', 'type-change': 'changing-column-type' };

/**
 * A destructive change the rehearsal found is a `warn`, like one read from the SQL, unless
 * policy.severities configures the matching squawk rule (`"ban-drop-table": "block"`): then it takes
 * that severity (`info` for `off`: data loss is never silent). Only the configured value counts, not
 * the built-in table: `changing-column-type` is `block` there for its lock, which the rehearsal measures.
 */
function destroyedSeverity(change: DestructiveChange, policy: RehearsalPolicy, breach: Severity): Severity {
  const rule = RULE_OF_KIND[change.kind];
  const configured = rule === undefined ? undefined : policy.severities?.[rule];
  if (configured === 'block') return breach;
  if (configured === 'info' || configured === 'off') return 'info';
  return 'warn';
}

/** `AccessExclusiveLock` (pg_locks), `ACCESS EXCLUSIVE` (the docs) and `access_exclusive` are one mode. */
function isAccessExclusive(mode: string): boolean {
  return mode.toLowerCase().replace(/[\s_-]/g, '').replace(/lock$/, '') === 'accessexclusive';
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/**
 * Turns the rehearsal's measurements into findings. In production a breach of the budget blocks the
 * run before production is touched; elsewhere it is a warning, so staging and development still learn
 * what production would refuse. What the rehearsal destroyed is judged by destroyedSeverity.
 */
export function judgeRehearsal(trace: RehearsalTrace, policy: RehearsalPolicy, env: Environment): LintFinding[] {
  const breach = env === 'production' ? 'block' : 'warn';
  const findings: LintFinding[] = [];
  const heldMs = new Map<string, number>();
  for (const lock of trace.locks) {
    if (!isAccessExclusive(lock.strongestMode)) continue;
    heldMs.set(lock.table, Math.max(heldMs.get(lock.table) ?? 0, lock.strongestHeldMs));
  }
  for (const [table, ms] of heldMs) {
    if (ms <= policy.lockBudgetMs) continue;
    const rows = trace.rowCounts[table];
    findings.push({
      source: 'dynamic',
      rule: 'lock-budget',
      severity: breach,
      table,
      message: `the rehearsal held an ACCESS EXCLUSIVE lock on ${table} for ${Math.round(ms)} ms (budget ${policy.lockBudgetMs} ms${rows === undefined ? '' : `, ${plural(rows, 'row')}`}): every read and write of ${table} would wait that long in production`,
    });
  }
  for (const table of new Set(trace.rewrittenTables)) {
    const rows = trace.rowCounts[table];
    const held = heldMs.get(table);
    const lock = held === undefined ? '' : ` under an ACCESS EXCLUSIVE lock held ${Math.round(held)} ms`;
    const over = rows === undefined || rows > policy.rewriteRowLimit;
    findings.push({
      source: 'dynamic',
      rule: 'table-rewrite',
      severity: over ? breach : 'info',
      table,
      message: over
        ? `the rehearsal rewrote ${table} (${rows === undefined ? 'row count unknown' : plural(rows, 'row')}, limit ${policy.rewriteRowLimit})${lock}: the rewrite time grows with the table`
        : `the rehearsal rewrote ${table} (${plural(rows, 'row')}, within the limit of ${policy.rewriteRowLimit})${lock}`,
    });
  }
  for (const change of trace.destroyed ?? []) {
    findings.push({
      source: 'destructive',
      rule: change.kind,
      severity: destroyedSeverity(change, policy, breach),
      table: change.table,
      message: `the rehearsal found that the migration ${describeChange(change)} (rows counted on the scratch copy)`,
    });
  }
  return findings;
}

export function blockingFindings(findings: readonly LintFinding[]): LintFinding[] {
  return findings.filter((finding) => finding.severity === 'block');
}

export interface Override {
  readonly force: boolean;
  readonly reason?: string | undefined;
}

function describeFinding(finding: LintFinding): string {
  const where = [finding.migration, finding.table].filter((part) => part !== undefined).join(' ');
  return `[${finding.rule}]${where ? ` ${where}` : ''}: ${finding.message}`;
}

/**
 * The override rule: blocking findings refuse the run (exit 3) unless `--force` comes with a
 * `--reason`, which the caller records in the report and the audit line. `--force` alone is a usage
 * error whatever the findings: an override nobody explained must not become a habit.
 */
export function enforcePolicy(findings: readonly LintFinding[], override: Override): { blocked: LintFinding[]; overridden: boolean } {
  const reason = override.reason?.trim() ?? '';
  if (override.force && reason === '') {
    throw new UsageError('--force needs --reason "...": the reason for overriding the safety policy goes into the report and the audit log');
  }
  const blocked = blockingFindings(findings);
  if (blocked.length === 0) return { blocked, overridden: false };
  if (override.force) return { blocked, overridden: true };
  throw new RefusedError(`refused by the safety policy: ${plural(blocked.length, 'blocking finding')}: ${blocked.map(describeFinding).join('; ')}`, {
    hint: 'change the migration, or override with --force --reason "..."',
  });
}

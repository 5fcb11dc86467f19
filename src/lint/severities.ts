import type { Severity } from './types.js';

/** A severity in the configurable table; `off` drops the rule (it is not even passed to squawk). */
export type RuleSeverity = Severity | 'off';

/**
 * The built-in severity of every squawk 2.61 rule; `policy.severities` in the config file overrides
 * single entries. The reasoning, one line per rule, is in docs/safety.md ("Severity table").
 *
 * block: locks readers or writers out for a time that grows with the table, or fails outright on a
 *        table with rows: exactly what a production run must not discover half way.
 * warn:  breaks running application code or loses data (the destructive analysis counts the rows and
 *        production asks for confirmation), or is only a hazard in some situations.
 * info:  style and robustness advice.
 * off:   already handled by orchestrate itself.
 */
export const DEFAULT_SEVERITIES = {
  'require-concurrent-index-creation': 'block',
  'constraint-missing-not-valid': 'block',
  'adding-foreign-key-constraint': 'block',
  'adding-not-nullable-field': 'block',
  'adding-required-field': 'block',
  'changing-column-type': 'block',
  'adding-field-with-default': 'block',
  'adding-serial-primary-key-field': 'block',
  'disallowed-unique-constraint': 'block',
  'ban-concurrent-index-creation-in-transaction': 'block',
  'ban-drop-database': 'block',
  'ban-uncommitted-transaction': 'block',

  'ban-drop-column': 'warn',
  'ban-drop-table': 'warn',
  'ban-drop-not-null': 'warn',
  'ban-truncate-cascade': 'warn',
  'renaming-column': 'warn',
  'renaming-table': 'warn',
  'require-concurrent-index-deletion': 'warn',
  'require-concurrent-reindex': 'warn',
  'require-concurrent-partition-detach': 'warn',
  'ban-create-domain-with-constraint': 'warn',
  'ban-alter-domain-with-add-constraint': 'warn',
  'transaction-nesting': 'warn',
  'identifier-too-long': 'warn',
  'require-enum-value-ordering': 'warn',
  'syntax-error': 'warn',

  'prefer-robust-stmts': 'info',
  'prefer-bigint-over-int': 'info',
  'prefer-bigint-over-smallint': 'info',
  'prefer-identity': 'info',
  'prefer-text-field': 'info',
  'prefer-timestamp-tz': 'info',
  'prefer-repack': 'info',
  'ban-char-field': 'info',
  'require-table-schema': 'info',
  'unused-ignore': 'info',

  'require-lock-timeout': 'off',
  'require-statement-timeout': 'off',
  'require-timeout-settings': 'off',
} as const satisfies Record<string, RuleSeverity>;

export type SquawkRule = keyof typeof DEFAULT_SEVERITIES;

export const SQUAWK_RULES = Object.keys(DEFAULT_SEVERITIES) as [SquawkRule, ...SquawkRule[]];

/** A rule this table does not know (a newer squawk) is reported, never silently dropped. */
const UNKNOWN_RULE_SEVERITY: Severity = 'warn';

/** The effective table: the built-in one with the configured overrides on top. */
export function severityTable(overrides: Readonly<Partial<Record<string, RuleSeverity>>> = {}): Readonly<Record<string, RuleSeverity>> {
  const table: Record<string, RuleSeverity> = { ...DEFAULT_SEVERITIES };
  for (const [rule, severity] of Object.entries(overrides)) if (severity) table[rule] = severity;
  return table;
}

export function severityOf(table: Readonly<Record<string, RuleSeverity>>, rule: string): RuleSeverity {
  return table[rule] ?? UNKNOWN_RULE_SEVERITY;
}

/** Rules to hand to squawk's --exclude. */
export function disabledRules(table: Readonly<Record<string, RuleSeverity>>): string[] {
  return Object.entries(table)
    .filter(([, severity]) => severity === 'off')
    .map(([rule]) => rule);
}

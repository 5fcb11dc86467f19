/** How much a finding matters: `block` stops a run (exit 3) unless overridden, `warn` and `info` are reported. */
export type Severity = 'block' | 'warn' | 'info';

export const SEVERITIES: readonly Severity[] = ['block', 'warn', 'info'];

/** One thing the safety analysis has to say about a migration. */
export interface LintFinding {
  /** static: squawk on the rendered SQL; dynamic: what the rehearsal measured; destructive: data that would be lost; code-reference: source files still using a removed name. */
  readonly source: 'static' | 'dynamic' | 'destructive' | 'code-reference';
  /** squawk's rule name for static findings; our own for the others (docs/safety.md). */
  readonly rule: string;
  readonly severity: Severity;
  /** The migration the finding belongs to, when known. */
  readonly migration?: string;
  readonly table?: string;
  readonly message: string;
  /** Documentation of the rule (squawk's page for static findings). */
  readonly link?: string;
  /** The statement the finding points at. */
  readonly sql?: string;
}

export type DestructiveKind = 'drop-table' | 'drop-column' | 'truncate' | 'type-change' | 'drop-schema';

/**
 * A change that would lose data, with the number of rows at stake: a statement read from the rendered
 * SQL (rows in the live database), or what the rehearsal did to the scratch copy's catalog (rows on the copy).
 */
export interface DestructiveChange {
  readonly kind: DestructiveKind;
  /** Schema-qualified when the statement qualifies it; the schema's name for drop-schema. */
  readonly table: string;
  readonly column?: string;
  /** Rows at stake: exact, or the planner's estimate when the table is too big to count (see rowsExact). */
  readonly rows: number;
  readonly rowsExact: boolean;
  readonly migration?: string;
  /** The statement, for a change read from the SQL; absent for one the rehearsal found. */
  readonly statement?: string;
  /** `rehearsal`: found by diffing the scratch copy's catalog before and after the rehearsal, certain whatever the SQL looked like. */
  readonly foundBy?: 'sql' | 'rehearsal';
  /** For type-change: the column's type now and the type it would get. */
  readonly fromType?: string;
  readonly toType?: string;
}

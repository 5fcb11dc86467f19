import type { RunContext } from '../context.js';
import { withClient, type Client } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import { bookkeepingTables } from './render.js';
import { COUNT_SESSION_SETTINGS, countRows, countSchemaRows, regclassText, type RowCount } from './rowCounts.js';
import { asArray, asString, fieldsOf, isBookkeeping, nameList, parseStatements, qualifiedName, relationOf, type RelationName, type SqlParser, type Statement } from './sql.js';
import { displayType, isWidening, modifiersFromTypmod, type ColumnType } from './typeChange.js';
import type { DestructiveChange, DestructiveKind } from './types.js';

/** A destructive statement as read from the SQL, before the database says how many rows it touches. */
export interface DestructiveStatement {
  readonly kind: DestructiveKind;
  /** The schema itself for drop-schema. */
  readonly relation: RelationName;
  readonly column?: string;
  readonly statement: string;
  /** For ALTER COLUMN ... TYPE: the type as written, resolved against the server later. */
  readonly newType?: { readonly name: string; readonly modifiers: readonly number[] | undefined };
}

/** A table or column that keeps its data under a new name: code using the old name breaks all the same. */
export interface Rename {
  readonly kind: 'table' | 'column';
  readonly relation: RelationName;
  /** The old column name for a column rename. */
  readonly column?: string;
  readonly newName: string;
}

export interface SqlChanges {
  readonly destructive: readonly DestructiveStatement[];
  readonly renames: readonly Rename[];
}

/** A TypeName node -> the name to resolve (`"pg_catalog"."int4"`, with `[]` per array level) and its modifiers. */
function typeOf(typeName: unknown): DestructiveStatement['newType'] {
  const fields = typeName !== null && typeof typeName === 'object' ? (typeName as Record<string, unknown>) : {};
  const names = nameList(fields.names);
  const arrays = asArray(fields.arrayBounds).length;
  const modifiers: number[] = [];
  for (const modifier of asArray(fields.typmods)) {
    const constant = fieldsOf(modifier, 'A_Const');
    if (!constant || !('ival' in constant)) return { name: '', modifiers: undefined };
    // The protobuf JSON leaves a zero ival out: `{ ival: {} }` is 0.
    const ival = (constant.ival as { ival?: number } | undefined)?.ival ?? 0;
    modifiers.push(ival);
  }
  const quoted = names.map((part) => `"${part.replace(/"/g, '""')}"`).join('.');
  return { name: `${quoted}${'[]'.repeat(arrays)}`, modifiers };
}

/** Reads the destructive statements and renames out of parsed SQL, skipping the tool's bookkeeping. */
export function changesIn(statements: readonly Statement[], bookkeeping: ReadonlySet<string>): SqlChanges {
  const destructive: DestructiveStatement[] = [];
  const renames: Rename[] = [];
  for (const statement of statements) {
    if (isBookkeeping(statement, bookkeeping)) continue;
    const add = (change: Omit<DestructiveStatement, 'statement'>) => {
      if (!bookkeeping.has(change.relation.name)) destructive.push({ ...change, statement: statement.text });
    };
    const drop = fieldsOf(statement.node, 'DropStmt');
    if (drop?.removeType === 'OBJECT_TABLE') {
      for (const object of asArray(drop.objects)) {
        const parts = nameList(fieldsOf(object, 'List')?.items);
        const name = parts.at(-1);
        if (name !== undefined) add({ kind: 'drop-table', relation: { schema: parts.length > 1 ? parts.at(-2) : undefined, name } });
      }
    }
    // Without CASCADE, DROP SCHEMA fails on a schema that still holds anything: nothing is lost.
    if (drop?.removeType === 'OBJECT_SCHEMA' && drop.behavior === 'DROP_CASCADE') {
      for (const object of asArray(drop.objects)) {
        const name = asString(fieldsOf(object, 'String')?.sval);
        if (name !== undefined) add({ kind: 'drop-schema', relation: { schema: undefined, name } });
      }
    }
    const truncate = fieldsOf(statement.node, 'TruncateStmt');
    for (const relation of asArray(truncate?.relations)) {
      const name = relationOf(fieldsOf(relation, 'RangeVar'));
      if (name) add({ kind: 'truncate', relation: name });
    }
    const alter = fieldsOf(statement.node, 'AlterTableStmt');
    const altered = alter?.objtype === 'OBJECT_TABLE' ? relationOf(alter.relation) : undefined;
    if (altered) {
      for (const command of asArray(alter?.cmds)) {
        const cmd = fieldsOf(command, 'AlterTableCmd');
        const column = asString(cmd?.name);
        if (!cmd || column === undefined) continue;
        if (cmd.subtype === 'AT_DropColumn') add({ kind: 'drop-column', relation: altered, column });
        if (cmd.subtype === 'AT_AlterColumnType') {
          add({ kind: 'type-change', relation: altered, column, newType: typeOf(fieldsOf(cmd.def, 'ColumnDef')?.typeName) });
        }
      }
    }
    const rename = fieldsOf(statement.node, 'RenameStmt');
    const renamed = rename ? relationOf(rename.relation) : undefined;
    const newName = asString(rename?.newname);
    if (rename && renamed && newName !== undefined) {
      const column = asString(rename.subname);
      if (rename.renameType === 'OBJECT_COLUMN' && column !== undefined) renames.push({ kind: 'column', relation: renamed, column, newName });
      if (rename.renameType === 'OBJECT_TABLE') renames.push({ kind: 'table', relation: renamed, newName });
    }
  }
  return { destructive, renames };
}

/** Parses SQL and reads its changes; SQL that does not parse has none we can name (squawk reports the syntax error). */
export async function sqlChanges(sql: string, bookkeeping: ReadonlySet<string>, parse: SqlParser): Promise<SqlChanges> {
  const parsed = await parse(sql);
  return parsed.ok ? changesIn(parsed.statements, bookkeeping) : { destructive: [], renames: [] };
}

async function currentType(client: Client, relation: RelationName, column: string): Promise<ColumnType | undefined> {
  const result = await client.query<{ type: string; typmod: number }>(
    `SELECT a.atttypid::regtype::text AS type, a.atttypmod AS typmod FROM pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [regclassText(relation), column],
  );
  const row = result.rows[0];
  return row ? { name: row.type, modifiers: modifiersFromTypmod(row.type, row.typmod) } : undefined;
}

async function resolvedType(client: Client, newType: NonNullable<DestructiveStatement['newType']>): Promise<ColumnType | undefined> {
  if (newType.modifiers === undefined || newType.name === '') return undefined;
  const result = await client.query<{ type: string | null }>('SELECT to_regtype($1)::text AS type', [newType.name]);
  const name = result.rows[0]?.type;
  return name ? { name, modifiers: newType.modifiers } : undefined;
}

/**
 * The destructive changes in `sql` (DROP TABLE, DROP COLUMN, TRUNCATE, a narrowing or converting
 * ALTER COLUMN ... TYPE, DROP SCHEMA ... CASCADE), each with the rows at stake in the live database.
 */
export async function analyzeDestructive(context: RunContext, target: DbTarget, sql: string, migrationId?: string, parse: SqlParser = parseStatements): Promise<DestructiveChange[]> {
  const { destructive } = await sqlChanges(sql, bookkeepingTables(context.settings), parse);
  if (destructive.length === 0) return [];
  const exactLimit = context.settings.safety.exactCountLimit;
  return withClient(target, context.applicationName, async (client) => {
    await client.query(COUNT_SESSION_SETTINGS);
    const counts = new Map<string, Promise<RowCount>>();
    const rowsOf = (relation: RelationName) => {
      const key = regclassText(relation);
      if (!counts.has(key)) counts.set(key, countRows(client, relation, exactLimit));
      return counts.get(key) as Promise<RowCount>;
    };
    const changes: DestructiveChange[] = [];
    for (const change of destructive) {
      const base = { kind: change.kind, table: qualifiedName(change.relation), ...(migrationId !== undefined ? { migration: migrationId } : {}), statement: change.statement };
      if (change.kind === 'drop-schema') {
        const count = await countSchemaRows(client, change.relation.name, exactLimit);
        changes.push({ ...base, rows: count.rows, rowsExact: count.exact });
        continue;
      }
      let types: { fromType?: string; toType?: string } = {};
      if (change.kind === 'type-change' && change.column !== undefined && change.newType) {
        const from = await currentType(client, change.relation, change.column);
        const to = await resolvedType(client, change.newType);
        if (from && to && isWidening(from, to)) continue;
        types = { ...(from ? { fromType: displayType(from) } : {}), ...(to ? { toType: displayType(to) } : {}) };
      }
      const count = await rowsOf(change.relation);
      changes.push({ ...base, ...(change.column !== undefined ? { column: change.column } : {}), rows: count.rows, rowsExact: count.exact, ...types });
    }
    return changes;
  });
}

/** describeChange with the migration it belongs to and, for what the rehearsal found, where the rows were counted. */
export function describeLoss(change: DestructiveChange): string {
  const found = change.foundBy === 'rehearsal' ? ' (found by the rehearsal, rows counted on the scratch copy)' : '';
  return `${change.migration ? `${change.migration}: ` : ''}${describeChange(change)}${found}`;
}

/** One line for a person: what is lost, and how much. */
export function describeChange(change: DestructiveChange): string {
  const rows = `${change.rowsExact ? '' : 'about '}${change.rows} row${change.rows === 1 ? '' : 's'}${change.rowsExact ? '' : ' (estimate)'}`;
  switch (change.kind) {
    case 'drop-table':
      return `drops table ${change.table} holding ${rows}`;
    case 'drop-column':
      return `drops column ${change.table}.${change.column ?? '?'}: its values in ${rows} are lost`;
    case 'truncate':
      return `truncates ${change.table}: ${rows} deleted`;
    case 'type-change':
      return `changes ${change.table}.${change.column ?? '?'} from ${change.fromType ?? 'its current type'} to ${change.toType ?? 'another type'}: values in ${rows} may be truncated, rounded or fail to convert`;
    case 'drop-schema':
      return `drops schema ${change.table} with CASCADE: ${rows} in its tables are lost`;
  }
}

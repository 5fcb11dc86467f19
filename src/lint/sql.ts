import { parse } from 'libpg-query';
import { errorMessage } from '../errors.js';

/**
 * Rendered migration SQL split into statements by PostgreSQL's own parser (libpg_query compiled to
 * WebAssembly): quoting, comments, dollar-quoted bodies and multi-command ALTER TABLE are handled the
 * way the server handles them, which no regular expression does.
 */

/** A parse-tree node: `{ NodeType: { ...fields } }`. The tree is plain JSON, walked generically. */
export type AstNode = Record<string, unknown>;

export interface Statement {
  /** The parse tree of the statement: `{ AlterTableStmt: {...} }`. */
  readonly node: AstNode;
  /** Its node type: `AlterTableStmt`, `DropStmt`, `TransactionStmt`, ... */
  readonly kind: string;
  /** Character offsets in the SQL text; `end` excludes the terminating semicolon. */
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

export type ParsedSql = { readonly ok: true; readonly statements: readonly Statement[] } | { readonly ok: false; readonly error: string };

interface RawStatement {
  stmt?: AstNode;
  stmt_location?: number;
  stmt_len?: number;
}

export async function parseStatements(sql: string): Promise<ParsedSql> {
  let raw: RawStatement[];
  try {
    raw = ((await parse(sql)) as { stmts?: RawStatement[] }).stmts ?? [];
  } catch (error) {
    return { ok: false, error: errorMessage(error) };
  }
  // The parser reports byte offsets into the UTF-8 text; slicing a JS string needs character offsets.
  const bytes = Buffer.from(sql, 'utf8');
  const ascii = bytes.length === sql.length;
  const charOffset = (byte: number) => (ascii ? byte : bytes.subarray(0, byte).toString('utf8').length);
  const statements = raw.flatMap((entry): Statement[] => {
    if (!entry.stmt) return [];
    const startByte = entry.stmt_location ?? 0;
    const endByte = entry.stmt_len ? startByte + entry.stmt_len : bytes.length;
    const start = charOffset(startByte);
    const end = charOffset(endByte);
    return [{ node: entry.stmt, kind: Object.keys(entry.stmt)[0] ?? '', start, end, text: sql.slice(start, end).trim() }];
  });
  return { ok: true, statements };
}

/** The fields of a node of the given type, or undefined when `node` is another type. */
export function fieldsOf(node: unknown, type: string): AstNode | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  const inner = (node as AstNode)[type];
  return inner !== null && typeof inner === 'object' ? (inner as AstNode) : undefined;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** `[{String: {sval: 'public'}}, {String: {sval: 'orders'}}]` -> `['public', 'orders']`. */
export function nameList(list: unknown): string[] {
  return asArray(list).flatMap((item) => {
    const sval = asString(fieldsOf(item, 'String')?.sval);
    return sval === undefined ? [] : [sval];
  });
}

export interface RelationName {
  readonly schema: string | undefined;
  readonly name: string;
}

/** A RangeVar's fields -> its name. */
export function relationOf(rangeVar: unknown): RelationName | undefined {
  if (rangeVar === null || typeof rangeVar !== 'object') return undefined;
  const fields = rangeVar as AstNode;
  const name = asString(fields.relname);
  return name === undefined ? undefined : { schema: asString(fields.schemaname), name };
}

export function qualifiedName(relation: RelationName): string {
  return relation.schema ? `${relation.schema}.${relation.name}` : relation.name;
}

/** Every table a statement names: its RangeVars, and the objects of a DROP TABLE. */
export function relationsIn(statement: Statement): RelationName[] {
  const found: RelationName[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(walk);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'RangeVar' || key === 'relation') {
        const relation = relationOf(inner);
        if (relation) found.push(relation);
      }
      walk(inner);
    }
  };
  walk(statement.node);
  const drop = fieldsOf(statement.node, 'DropStmt');
  if (drop && drop.removeType === 'OBJECT_TABLE') {
    for (const object of asArray(drop.objects)) {
      const parts = nameList(fieldsOf(object, 'List')?.items);
      const name = parts.at(-1);
      if (name !== undefined) found.push({ schema: parts.length > 1 ? parts.at(-2) : undefined, name });
    }
  }
  return found;
}

/**
 * A statement the migration tool adds for its own record keeping (alembic_version, pgmigrations):
 * every table it names is a bookkeeping table. Findings must never point at these.
 */
export function isBookkeeping(statement: Statement, bookkeepingTables: ReadonlySet<string>): boolean {
  if (bookkeepingTables.size === 0) return false;
  const relations = relationsIn(statement);
  return relations.length > 0 && relations.every((relation) => bookkeepingTables.has(relation.name));
}

/** The SQL with the given statements (and their semicolons) replaced by spaces: line and column numbers stay put. */
export function blankStatements(sql: string, statements: readonly Statement[]): string {
  let result = sql;
  for (const statement of statements) {
    const end = result[statement.end] === ';' ? statement.end + 1 : statement.end;
    result = result.slice(0, statement.start) + result.slice(statement.start, end).replace(/[^\n]/g, ' ') + result.slice(end);
  }
  return result;
}

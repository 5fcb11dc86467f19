import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ToolError } from '../errors.js';
import { lastLines, runProgram } from '../exec/process.js';
import { parseJsonAs } from '../util/json.js';

/**
 * Rendered migration SQL split into statements by PostgreSQL's own parser (libpg_query compiled to
 * WebAssembly): quoting, comments, dollar-quoted bodies and multi-command ALTER TABLE are handled the
 * way the server handles them, which no regular expression does.
 *
 * The parser runs in a short-lived child process, never in orchestrate's own: compiling its
 * WebAssembly module and parsing took 25-45 MB that a Node process does not give back, which alone put
 * a run's peak RSS past 120 MB. One child parses every text of a lint (parserFor), so a run pays one
 * Node start for it (0.2-0.35 s for 40 migrations at load 8 on two cores, against 0.1-0.15 s in-process
 * plus TurboFan's compilation in the background).
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

/** How the analyses get their statements: parseStatements, or a lookup into texts parsed together (parseAll). */
export type SqlParser = (sql: string) => Promise<ParsedSql>;

const rawStatementSchema = z.looseObject({
  stmt: z.record(z.string(), z.unknown()).optional(),
  stmt_location: z.number().int().optional(),
  stmt_len: z.number().int().optional(),
});
type RawStatement = z.infer<typeof rawStatementSchema>;

/** What the child prints for each text: libpg-query's statements, or the message of its syntax error. */
const rawParseSchema = z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), stmts: z.array(rawStatementSchema) }), z.object({ ok: z.literal(false), error: z.string() })]);
type RawParse = z.infer<typeof rawParseSchema>;

/** Wall-clock limit of one parser child: it parses migration SQL, kilobytes to a few megabytes. */
const PARSER_TIMEOUT_MS = 60_000;

/**
 * The child's program (CommonJS, run with `node -e`): argv[1] is libpg-query's entry, argv[2] a JSON
 * file with the texts. It prints one JSON array, a RawParse per text. A script text rather than a
 * module file, so that it runs the same from dist/ and from the sources under the test runner.
 */
const PARSER_SCRIPT = `
// WebAssembly through Liftoff, V8's baseline compiler, only: optimizing the 1.7 MB parser with TurboFan
// costs a child that lives a fraction of a second 0.2-0.4 s of CPU and 40 MB it never earns back. The
// parse trees are the same; a Node whose V8 does not know the flag ignores it.
require('node:v8').setFlagsFromString('--liftoff-only');
const { parse } = require(process.argv[1]);
const texts = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'));
(async () => {
  const results = [];
  for (const sql of texts) {
    try {
      results.push({ ok: true, stmts: (await parse(sql)).stmts ?? [] });
    } catch (error) {
      results.push({ ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }
  process.stdout.write(JSON.stringify(results));
})();
`;

/** Runs the parser child over `texts`. A child that fails, is killed or times out is an error, never "no statements". */
async function parseInChild(texts: readonly string[]): Promise<RawParse[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'orchestrate-parse-'));
  try {
    const input = path.join(dir, 'texts.json');
    await writeFile(input, JSON.stringify(texts), { mode: 0o600 });
    const libpgQuery = createRequire(import.meta.url).resolve('libpg-query');
    const run = await runProgram({ program: process.execPath, args: ['-e', PARSER_SCRIPT, libpgQuery, input], timeoutMs: PARSER_TIMEOUT_MS });
    if (!run.ok) {
      const why = run.timedOut ? `did not finish within ${PARSER_TIMEOUT_MS / 1000} s` : (lastLines(run.stderr) || `exit code ${run.exitCode ?? run.signal ?? 'unknown'}`);
      throw new ToolError(`the SQL parser (libpg-query, in a child process) failed: ${why}`, run.stderr);
    }
    const results = parseJsonAs(z.array(rawParseSchema), run.stdout);
    if (!results) throw new ToolError('the SQL parser (libpg-query, in a child process) printed something other than its answers', run.stderr);
    if (results.length !== texts.length) throw new ToolError(`the SQL parser (libpg-query, in a child process) answered for ${results.length} of ${texts.length} texts`, run.stderr);
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** libpg-query's statements with their character offsets and text in `sql`. */
function statementsOf(sql: string, raw: readonly RawStatement[]): Statement[] {
  // The parser reports byte offsets into the UTF-8 text; slicing a JS string needs character offsets.
  const bytes = Buffer.from(sql, 'utf8');
  const ascii = bytes.length === sql.length;
  const charOffset = (byte: number) => (ascii ? byte : bytes.subarray(0, byte).toString('utf8').length);
  return raw.flatMap((entry): Statement[] => {
    if (!entry.stmt) return [];
    const startByte = entry.stmt_location ?? 0;
    const endByte = entry.stmt_len ? startByte + entry.stmt_len : bytes.length;
    const start = charOffset(startByte);
    const end = charOffset(endByte);
    return [{ node: entry.stmt, kind: Object.keys(entry.stmt)[0] ?? '', start, end, text: sql.slice(start, end).trim() }];
  });
}

/** Each text's statements, or its syntax error, all parsed by one child process. */
export async function parseAll(texts: readonly string[]): Promise<ParsedSql[]> {
  if (texts.length === 0) return [];
  const raw = await parseInChild(texts);
  // parseInChild checked that there is one answer per text.
  return texts.map((sql, index): ParsedSql => {
    const result = raw[index] as RawParse;
    return result.ok ? { ok: true, statements: statementsOf(sql, result.stmts) } : { ok: false, error: result.error };
  });
}

export async function parseStatements(sql: string): Promise<ParsedSql> {
  const [parsed] = await parseAll([sql]);
  return parsed as ParsedSql;
}

/**
 * A parser for the analyses of one lint: `texts` (every rendered migration's SQL; undefined for one
 * that could not be rendered) are parsed together in one child up front; any other text is parsed on
 * its own when asked for.
 */
export async function parserFor(texts: readonly (string | undefined)[]): Promise<SqlParser> {
  const unique = [...new Set(texts.filter((text) => text !== undefined))];
  const results = await parseAll(unique);
  const byText = new Map(unique.map((sql, index) => [sql, results[index]]));
  return async (sql) => byText.get(sql) ?? parseStatements(sql);
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

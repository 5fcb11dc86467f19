import { describe, expect, it } from 'vitest';
import { changesIn } from '../../src/lint/destructive.js';
import { splitMarkedOutput } from '../../src/migrators/nodePgMigrate.js';
import { blankStatements, isBookkeeping, parseStatements, type Statement } from '../../src/lint/sql.js';
import { isWidening, modifiersFromTypmod } from '../../src/lint/typeChange.js';

async function statements(sql: string): Promise<readonly Statement[]> {
  const parsed = await parseStatements(sql);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.statements;
}

const noBookkeeping = new Set<string>();

describe('SQL parsing with PostgreSQL parser', () => {
  it('splits statements with their exact text, past comments, quotes, dollar quotes and multibyte text', async () => {
    const sql = `-- Running upgrade a -> b\nINSERT INTO notes VALUES ('naïve; ünïcode');\nDO $$ BEGIN PERFORM 1; END $$;\nALTER TABLE "Odd;Name" DROP COLUMN x;`;
    expect((await statements(sql)).map((statement) => [statement.kind, statement.text])).toEqual([
      ['InsertStmt', "INSERT INTO notes VALUES ('naïve; ünïcode')"],
      ['DoStmt', 'DO $$ BEGIN PERFORM 1; END $$'],
      ['AlterTableStmt', 'ALTER TABLE "Odd;Name" DROP COLUMN x'],
    ]);
  });

  it('reports SQL that does not parse instead of guessing', async () => {
    const parsed = await parseStatements('ALTER TABLE orders ADD COLUMNN x int;');
    expect(parsed.ok).toBe(false);
  });

  it('recognizes bookkeeping statements and blanks them without moving lines', async () => {
    const sql = `BEGIN;\nCREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);\nALTER TABLE orders ADD COLUMN x text;\nUPDATE alembic_version SET version_num='b' WHERE alembic_version.version_num = 'a';\nCOMMIT;\n`;
    const parsed = await statements(sql);
    const bookkeeping = parsed.filter((statement) => isBookkeeping(statement, new Set(['alembic_version'])));
    expect(bookkeeping.map((statement) => statement.kind)).toEqual(['CreateStmt', 'UpdateStmt']);
    const blanked = blankStatements(sql, bookkeeping);
    expect(blanked.split('\n').map((line) => line.trim())).toEqual(['BEGIN;', '', 'ALTER TABLE orders ADD COLUMN x text;', '', 'COMMIT;', '']);
    expect(blanked.length).toBe(sql.length);
  });
});

describe('destructive statements', () => {
  it('finds DROP TABLE, DROP COLUMN, TRUNCATE, ALTER TYPE and DROP SCHEMA CASCADE, and renames', async () => {
    const sql = [
      'DROP TABLE IF EXISTS legacy, archive.old_orders CASCADE;',
      'ALTER TABLE public.orders DROP COLUMN status, ALTER COLUMN total_cents TYPE smallint USING total_cents::smallint;',
      'TRUNCATE sessions, tokens;',
      'DROP SCHEMA scratch CASCADE;',
      'DROP SCHEMA empty_one;',
      'ALTER TABLE users RENAME COLUMN email TO email_address;',
      'ALTER TABLE carts RENAME TO baskets;',
      'DROP INDEX orders_idx;',
      'DROP TABLE alembic_version;',
    ].join('\n');
    const { destructive, renames } = changesIn(await statements(sql), new Set(['alembic_version']));
    expect(destructive.map((change) => [change.kind, change.relation.schema ?? '', change.relation.name, change.column ?? ''])).toEqual([
      ['drop-table', '', 'legacy', ''],
      ['drop-table', 'archive', 'old_orders', ''],
      ['drop-column', 'public', 'orders', 'status'],
      ['type-change', 'public', 'orders', 'total_cents'],
      ['truncate', '', 'sessions', ''],
      ['truncate', '', 'tokens', ''],
      ['drop-schema', '', 'scratch', ''],
    ]);
    expect(destructive[3]?.newType).toEqual({ name: '"pg_catalog"."int2"', modifiers: [] });
    expect(renames.map((rename) => [rename.kind, rename.relation.name, rename.column ?? '', rename.newName])).toEqual([
      ['column', 'users', 'email', 'email_address'],
      ['table', 'carts', '', 'baskets'],
    ]);
  });

  it('reads type modifiers, zero included', async () => {
    const { destructive } = changesIn(await statements('ALTER TABLE t ALTER COLUMN a TYPE numeric(10,0), ALTER COLUMN b TYPE varchar(20)[]'), noBookkeeping);
    expect(destructive.map((change) => change.newType)).toEqual([
      { name: '"pg_catalog"."numeric"', modifiers: [10, 0] },
      { name: '"pg_catalog"."varchar"[]', modifiers: [20] },
    ]);
  });
});

describe('narrowing type changes', () => {
  const type = (name: string, ...modifiers: number[]) => ({ name, modifiers });

  it.each([
    [type('integer'), type('bigint')],
    [type('smallint'), type('integer')],
    [type('integer'), type('numeric')],
    [type('character varying', 10), type('character varying', 20)],
    [type('character varying', 10), type('character varying')],
    [type('character varying', 10), type('text')],
    [type('text'), type('character varying')],
    [type('numeric', 8, 2), type('numeric', 12, 2)],
    [type('numeric', 8, 2), type('numeric')],
    [type('real'), type('double precision')],
    [type('timestamp without time zone'), type('timestamp with time zone')],
  ])('%o -> %o keeps every value', (from, to) => {
    expect(isWidening(from, to)).toBe(true);
  });

  it.each([
    [type('bigint'), type('integer')],
    [type('integer'), type('smallint')],
    [type('character varying', 20), type('character varying', 10)],
    [type('text'), type('character varying', 50)],
    [type('numeric', 12, 2), type('numeric', 12, 4)],
    [type('numeric'), type('numeric', 12, 2)],
    [type('text'), type('integer')],
    [type('integer'), type('text[]')],
    [type('double precision'), type('real')],
  ])('%o -> %o may lose values', (from, to) => {
    expect(isWidening(from, to)).toBe(false);
  });

  it('decodes atttypmod', () => {
    expect(modifiersFromTypmod('character varying', 24)).toEqual([20]);
    expect(modifiersFromTypmod('numeric', ((12 << 16) | 2) + 4)).toEqual([12, 2]);
    expect(modifiersFromTypmod('integer', -1)).toEqual([]);
  });
});

describe("node-pg-migrate's dry-run output", () => {
  it('is split at its migration markers, without its progress lines', () => {
    const output = [
      '> Migrating files:',
      '> - 1_a',
      '> - 2_b',
      '### MIGRATION 1_a (UP) ###',
      'BEGIN;',
      'CREATE INDEX i ON t (c);',
      'INSERT INTO "public"."pgmigrations" (name, run_on) VALUES (\'1_a\', NOW());',
      'COMMIT;',
      '',
      '### MIGRATION 2_b (UP) ###',
      'ALTER TABLE t DROP COLUMN c;',
      'Migrations complete!',
    ].join('\n');
    const sections = splitMarkedOutput(output, 'UP');
    expect([...sections.keys()]).toEqual(['1_a', '2_b']);
    expect(sections.get('1_a')).toContain('CREATE INDEX i ON t (c);');
    expect(sections.get('2_b')?.trim()).toBe('ALTER TABLE t DROP COLUMN c;');
  });
});

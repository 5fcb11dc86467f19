import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type pg from 'pg';
import { afterAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { libpqEnv } from '../../src/db/target.js';
import { diffChanges } from '../../src/validation/change.js';
import { diffFingerprints, fingerprintOf, schemaFingerprint } from '../../src/validation/fingerprint.js';
import { canonicalRendering } from '../../src/validation/rendering.js';
import { unifiedDiff } from '../../src/validation/textDiff.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { clients, targetOf } from './support.js';

/** Objects whose stored expressions pg_restore prints differently: an IN list on varchar in a CHECK, a partial index, a default and a policy. */
const RERENDERED = `
CREATE TABLE t (id int PRIMARY KEY, s varchar(10), k text, flag boolean DEFAULT ('x'::varchar IN ('x', 'y')), CONSTRAINT ck CHECK (s IN ('a', 'b')));
CREATE INDEX t_partial ON t (s) WHERE s IN ('a', 'b');
CREATE INDEX t_partial_k ON t (k) WHERE k = ANY (ARRAY['a', 'b']::varchar[]);
ALTER TABLE t ENABLE ROW LEVEL SECURITY;
CREATE POLICY t_visible ON t USING (s IN ('a', 'b'));
CREATE TABLE other (id int PRIMARY KEY);
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  -- one
  -- two
  RETURN 1;
END $$;
INSERT INTO t (id, s) VALUES (1, 'a'), (2, 'b');
`;

const pool = clients();
const tempDirs: string[] = [];
let source: TestDatabase;
let copy: TestDatabase;

async function dumpAndRestore(from: TestDatabase, to: TestDatabase): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'change-'));
  tempDirs.push(dir);
  const archive = path.join(dir, 'dump.pgdump');
  await execa('pg_dump', ['-Fc', '-f', archive], { env: libpqEnv(targetOf(from), { applicationName: 'change-test' }) });
  await execa('pg_restore', ['--exit-on-error', '--no-owner', '--no-acl', '-d', to.name, archive], { env: libpqEnv(targetOf(to), { applicationName: 'change-test' }) });
}

/** Runs `sql` on a connection and returns the fingerprints before and after it. */
async function change(client: pg.Client, sql: string) {
  const before = await schemaFingerprint(client);
  await client.query(sql);
  return { before, after: await schemaFingerprint(client) };
}

/** For the tests of the enclosing describe: a database with RERENDERED and its pg_dump/pg_restore copy. */
function withSourceAndCopy(): void {
  beforeEach(async () => {
    source = await createTestDatabase('chg_src');
    copy = await createTestDatabase('chg_copy');
    await source.query(RERENDERED);
    await dumpAndRestore(source, copy);
  });
  afterEach(async () => {
    await pool.closeAll();
    await source?.drop();
    await copy?.drop();
  });
}

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('pg_restore re-renders untouched expressions', () => {
  withSourceAndCopy();

  it('prints the CHECK, the partial indexes, the default and the policy differently, and diffFingerprints reads them as equal', async () => {
    const original = await schemaFingerprint(await pool.open(source));
    const restored = await schemaFingerprint(await pool.open(copy));
    // The premise: a comparison of the texts would report these four objects (and more).
    const differing = Object.keys(original.objects).filter((key) => original.objects[key] !== restored.objects[key]);
    expect(differing).toEqual(
      expect.arrayContaining(['constraint public.t.ck', 'index public.t.t_partial', 'index public.t.t_partial_k', 'column public.t.flag', 'policy public.t.t_visible']),
    );
    expect(original.objects['constraint public.t.ck']).toContain('ANY ((ARRAY[');
    expect(restored.objects['constraint public.t.ck']).toContain("ANY (ARRAY[('a'::character varying)::text");
    expect(diffFingerprints(original, restored)).toEqual([]);
  });
});

describe('diffChanges: production before -> after against the rehearsal copy before -> after', () => {
  withSourceAndCopy();

  it('the same migration on both sides: no difference, although the untouched objects print differently', async () => {
    const migration = `ALTER TABLE other ADD COLUMN note text; ALTER TABLE t ALTER COLUMN k SET NOT NULL; CREATE INDEX other_note ON other (note)`;
    await source.query(`UPDATE t SET k = 'x'`);
    await copy.query(`UPDATE t SET k = 'x'`);
    const production = await change(await pool.open(source), migration);
    const rehearsal = await change(await pool.open(copy), migration);
    expect(production.after.hash).not.toBe(rehearsal.after.hash);
    expect(diffChanges(rehearsal, production, { expected: 'rehearsal', actual: 'database' })).toEqual([]);
  });

  it('an ALTER of a re-rendered column on both sides is the same change', async () => {
    const migration = `ALTER TABLE t ALTER COLUMN flag SET NOT NULL`;
    const production = await change(await pool.open(source), migration);
    const rehearsal = await change(await pool.open(copy), migration);
    expect(diffChanges(rehearsal, production, { expected: 'rehearsal', actual: 'database' })).toEqual([]);
  });

  it('a column only production added, an index only the rehearsal created, a different CHECK: each caught', async () => {
    const production = await change(await pool.open(source), `ALTER TABLE other ADD COLUMN extra int; ALTER TABLE t DROP CONSTRAINT ck, ADD CONSTRAINT ck CHECK (s IN ('a', 'b', 'd'))`);
    const rehearsal = await change(await pool.open(copy), `CREATE INDEX other_id ON other (id); ALTER TABLE t DROP CONSTRAINT ck, ADD CONSTRAINT ck CHECK (s IN ('a', 'b', 'c'))`);
    const differences = diffChanges(rehearsal, production, { expected: 'rehearsal', actual: 'database' });
    expect(differences[0]).toBe('column public.other.extra: present in database, absent in rehearsal');
    expect(differences[1]).toMatch(/^constraint public\.t\.ck: rehearsal vs database\n--- rehearsal\n\+\+\+ database\n@@ -1 \+1 @@\n-CHECK .*'c'::character varying\]\)::text\[\]\)\)\)\n\+CHECK .*'d'::character varying\]\)::text\[\]\)\)\)$/);
    expect(differences[2]).toBe('index public.other.other_id: present in rehearsal, absent in database');
    expect(differences).toHaveLength(3);
  });

  it('a function body changed differently is shown as a unified diff of the bodies', async () => {
    const body = (line: string) => `CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  -- one\n  -- two\n  RETURN ${line};\nEND $$`;
    const production = await change(await pool.open(source), body('2'));
    const rehearsal = await change(await pool.open(copy), body('3'));
    expect(diffChanges(rehearsal, production, { expected: 'rehearsal', actual: 'database' })).toEqual([
      ['function public.f(): rehearsal vs database', '--- rehearsal', '+++ database', '@@ -5,4 +5,4 @@', '   -- one', '   -- two', '-  RETURN 3;', '+  RETURN 2;', ' END '].join('\n'),
    ]);
  });

  it('a table dropped on one side only is one line with its members summarised', async () => {
    const production = await change(await pool.open(source), 'SELECT 1');
    const rehearsal = await change(await pool.open(copy), 'DROP TABLE other');
    expect(diffChanges(rehearsal, production, { expected: 'rehearsal', actual: 'database' })).toEqual(['table public.other: present in database, absent in rehearsal (with 1 column, 1 constraint, 1 index)']);
  });
});

describe('diffChanges on objects the two copies printed differently before', () => {
  // A re-rendering canonicalRendering does not know: the two befores differ in text only.
  const productionBefore = fingerprintOf([['column public.t.c', 'text default f(x)']]);
  const copyBefore = fingerprintOf([['column public.t.c', 'text default f((x))']]);

  it('the same edit on both sides is the same change', () => {
    const production = { before: productionBefore, after: fingerprintOf([['column public.t.c', 'text not null default f(x)']]) };
    const rehearsal = { before: copyBefore, after: fingerprintOf([['column public.t.c', 'text not null default f((x))']]) };
    expect(diffChanges(rehearsal, production, { expected: 'rehearsal', actual: 'database' })).toEqual([]);
  });

  it('different edits are a difference, and so is an edit on one side only', () => {
    const production = { before: productionBefore, after: fingerprintOf([['column public.t.c', 'text not null default f(x)']]) };
    const rehearsal = { before: copyBefore, after: fingerprintOf([['column public.t.c', 'varchar default f((x))']]) };
    expect(diffChanges(rehearsal, production, { expected: 'rehearsal', actual: 'database' })).toEqual(['column public.t.c: rehearsal "varchar default f((x))" vs database "text not null default f(x)"']);
    expect(diffChanges({ before: copyBefore, after: copyBefore }, production, { expected: 'rehearsal', actual: 'database' })).toHaveLength(1);
  });
});

describe('canonicalRendering', () => {
  it('moves an array cast onto each element, as the parser does, and leaves everything else alone', () => {
    expect(canonicalRendering(`((s)::text = ANY ((ARRAY['a'::character varying, 'b,c'::character varying])::text[]))`)).toBe(
      `((s)::text = ANY (ARRAY[('a'::character varying)::text, ('b,c'::character varying)::text]))`,
    );
    expect(canonicalRendering(`(x = ANY ((ARRAY[f(1, 2), 'it''s'::character varying(3)])::character varying(5)[]))`)).toBe(
      `(x = ANY (ARRAY[(f(1, 2))::character varying(5), ('it''s'::character varying(3))::character varying(5)]))`,
    );
    for (const unchanged of [`ARRAY['a'::text]`, `(ARRAY['a'::text])[1]`, `((ARRAY[1])::integer)`, `'(ARRAY[' || x`]) expect(canonicalRendering(unchanged)).toBe(unchanged);
  });

  it('does not make different expressions equal', () => {
    const a = fingerprintOf([['constraint public.t.ck', `CHECK (((s)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))`]]);
    const b = fingerprintOf([['constraint public.t.ck', `CHECK (((s)::text = ANY (ARRAY[('a'::character varying)::text, ('c'::character varying)::text])))`]]);
    expect(diffFingerprints(a, b)).toHaveLength(1);
  });
});

describe('unifiedDiff', () => {
  it('shows the changed lines with two lines of context and line numbers', () => {
    const a = ['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l8', 'l9', 'l10'].join('\n');
    const b = ['l1', 'l2', 'l3', 'L4', 'l5', 'l6', 'l7', 'l8', 'l9', 'l10', 'l11'].join('\n');
    expect(unifiedDiff(a, b, { a: 'a', b: 'b' })).toEqual(['--- a', '+++ b', '@@ -2,5 +2,5 @@', ' l2', ' l3', '-l4', '+L4', ' l5', ' l6', '@@ -9,2 +9,3 @@', ' l9', ' l10', '+l11']);
    expect(unifiedDiff(a, a, { a: 'a', b: 'b' })).toEqual([]);
  });

  it('stays short: a long difference is cut with a count of what is left out', () => {
    const a = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    const b = Array.from({ length: 100 }, (_, i) => `LINE ${i}`).join('\n');
    const diff = unifiedDiff(a, b, { a: 'a', b: 'b' }, { maxLines: 10 });
    expect(diff).toHaveLength(13);
    expect(diff.at(-1)).toBe('… 191 more lines');
  });
});

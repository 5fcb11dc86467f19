import { describe, expect, it } from 'vitest';
import { historyOf, parseAlembicCurrent } from '../../src/migrators/alembic.js';
import { pendingDowngrades, pendingUpgrades, planMigrations, resolveTarget, stateAt } from '../../src/migrators/plan.js';

const migrations = [
  { id: 'a1', description: 'one' },
  { id: 'b2', description: 'two' },
  { id: 'c3', description: 'three' },
];

describe('resolveTarget', () => {
  it('resolves head, base, ids, prefixes and relative steps', () => {
    expect(resolveTarget(migrations, 'a1', 'head')).toBe('c3');
    expect(resolveTarget(migrations, 'a1', 'base')).toBeNull();
    expect(resolveTarget(migrations, 'a1', 'b2')).toBe('b2');
    expect(resolveTarget(migrations, 'a1', 'c')).toBe('c3');
    expect(resolveTarget(migrations, 'b2', '-1')).toBe('a1');
    expect(resolveTarget(migrations, 'a1', '-1')).toBeNull();
    expect(resolveTarget(migrations, 'a1', '+2')).toBe('c3');
  });
  it('refuses unknown revisions and steps past either end', () => {
    expect(() => resolveTarget(migrations, 'a1', 'zz')).toThrow('unknown revision "zz"');
    expect(() => resolveTarget(migrations, null, '-1')).toThrow(/cannot move -1/);
    expect(() => resolveTarget(migrations, 'c3', '+1')).toThrow(/cannot move \+1/);
  });
  it('lists what an upgrade applies and what a downgrade reverts', () => {
    const state = stateAt(migrations, 'a1');
    expect(pendingUpgrades(migrations, state, 'c3').map((m) => m.id)).toEqual(['b2', 'c3']);
    expect(pendingDowngrades(migrations, stateAt(migrations, 'c3'), 'a1').map((m) => m.id)).toEqual(['c3', 'b2']);
  });
});

/** m1 branches into a2 and b2, merged by m3; m3 branches into a4 and b4, merged by m5. */
const merged = [
  { id: 'm1', description: 'one', parents: [] },
  { id: 'b2', description: 'b', parents: ['m1'] },
  { id: 'a2', description: 'a', parents: ['m1'] },
  { id: 'm3', description: 'merge', parents: ['a2', 'b2'] },
  { id: 'a4', description: 'a', parents: ['m3'] },
  { id: 'b4', description: 'b', parents: ['m3'] },
  { id: 'm5', description: 'merge', parents: ['a4', 'b4'] },
];

describe('a history that branches and merges', () => {
  it('applied is everything the current revision was built on, not a prefix of the list', () => {
    expect([...stateAt(merged, 'a2').applied].sort()).toEqual(['a2', 'm1']);
    expect([...stateAt(merged, 'm3').applied].sort()).toEqual(['a2', 'b2', 'm1', 'm3']);
  });
  it('plans an upgrade from one branch through both merges, and a downgrade back to a merge', () => {
    expect(planMigrations(merged, stateAt(merged, 'a2'), 'head', 'upgrade').migrations.map((m) => m.id)).toEqual(['b2', 'm3', 'a4', 'b4', 'm5']);
    expect(planMigrations(merged, stateAt(merged, 'm5'), 'm3', 'downgrade')).toMatchObject({ to: 'm3', migrations: [{ id: 'm5' }, { id: 'b4' }, { id: 'a4' }] });
  });
  it('relative steps land only where one revision is the head: from a merge, -1 is the merge before it', () => {
    expect(resolveTarget(merged, 'm5', '-1')).toBe('m3');
    expect(resolveTarget(merged, 'm5', '-2')).toBe('m1');
    expect(resolveTarget(merged, 'm5', '-3')).toBeNull();
    expect(resolveTarget(merged, 'a4', '-1')).toBe('m3');
    expect(resolveTarget(merged, 'm3', '+1')).toBe('a4');
    expect(resolveTarget(merged, 'a4', '+1')).toBe('m5');
    expect(resolveTarget(merged, null, '+2')).toBe('b2');
  });
  it('refuses a target that would leave two branches applied without their merge', () => {
    expect(() => planMigrations(merged, stateAt(merged, 'a4'), 'b4', 'upgrade')).toThrow(/would leave several heads applied \(a4, b4\)/);
  });
  it('refuses an upgrade target behind the current revision and a downgrade target ahead of it', () => {
    expect(() => planMigrations(merged, stateAt(merged, 'm3'), 'b2', 'upgrade')).toThrow(/behind the current revision m3/);
    expect(() => planMigrations(merged, stateAt(merged, 'a2'), 'b2', 'downgrade')).toThrow(/ahead of the current revision a2/);
  });
});

describe('alembic history', () => {
  it('keeps merge revisions with their parents', () => {
    expect(historyOf({ heads: ['c'], revisions: [{ id: 'a', parents: [], description: 'first' }, { id: 'b', parents: ['a'], description: 'x' }, { id: 'c', parents: ['a', 'b'], description: 'merge' }] })).toEqual([
      { id: 'a', parents: [], description: 'first' },
      { id: 'b', parents: ['a'], description: 'x' },
      { id: 'c', parents: ['a', 'b'], description: 'merge' },
    ]);
  });
  it('several heads: exit 2 naming them and the alembic merge command', () => {
    const error = (() => {
      try {
        historyOf({ heads: ['x9', 'y9'], revisions: [] });
      } catch (caught) {
        return caught as { exitCode: number; message: string; hint: string };
      }
      return undefined;
    })();
    expect(error).toMatchObject({ exitCode: 2, message: expect.stringContaining('2 heads (x9, y9)'), hint: 'merge them first: alembic merge -m "merge heads" x9 y9' });
  });
  it('reads the current revision', () => {
    expect(parseAlembicCurrent('c (head) (mergepoint)\n')).toBe('c');
    expect(parseAlembicCurrent('')).toBeNull();
  });
});

describe('failureSummary', () => {
  it('picks the exception line out of a Python traceback', async () => {
    const { failureSummary } = await import('../../src/exec/process.js');
    const traceback = [
      'INFO  [alembic.runtime.migration] Running upgrade 003 -> 004, broken',
      'Traceback (most recent call last):',
      '  File "x.py", line 1, in <module>',
      'psycopg2.errors.DivisionByZero: division by zero',
      '',
      'The above exception was the direct cause of the following exception:',
      'sqlalchemy.exc.DataError: (psycopg2.errors.DivisionByZero) division by zero',
      '[SQL: ALTER TABLE users ADD COLUMN oops integer NOT NULL DEFAULT 1/0]',
      '(Background on this error at: https://sqlalche.me/e/20/9h9h)',
    ].join('\n');
    expect(failureSummary(traceback)).toBe('sqlalchemy.exc.DataError: (psycopg2.errors.DivisionByZero) division by zero');
    expect(failureSummary('psql:x.sql:3: ERROR:  relation "t" does not exist\n')).toContain('relation "t" does not exist');
    expect(failureSummary('just one line')).toBe('just one line');
  });
});

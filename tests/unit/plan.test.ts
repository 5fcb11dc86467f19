import { describe, expect, it } from 'vitest';
import { parseAlembicCurrent, parseAlembicHistory } from '../../src/migrators/alembic.js';
import { linearState, pendingDowngrades, pendingUpgrades, resolveTarget } from '../../src/migrators/plan.js';

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
    const state = linearState(migrations, 'a1');
    expect(pendingUpgrades(migrations, state, 'c3').map((m) => m.id)).toEqual(['b2', 'c3']);
    expect(pendingDowngrades(migrations, linearState(migrations, 'c3'), 'a1').map((m) => m.id)).toEqual(['c3', 'b2']);
  });
});

describe('alembic output parsing', () => {
  it('reads history oldest first and the current revision', () => {
    const stdout = 'b -> c (head), add, with comma\na -> b, second\n<base> -> a, first\n';
    expect(parseAlembicHistory(stdout)).toEqual([
      { id: 'a', description: 'first' },
      { id: 'b', description: 'second' },
      { id: 'c', description: 'add, with comma' },
    ]);
    expect(parseAlembicCurrent('c (head)\n')).toBe('c');
    expect(parseAlembicCurrent('')).toBeNull();
  });
  it('refuses a branching history', () => {
    expect(() => parseAlembicHistory('(a, b) -> c (head) (mergepoint), merge\n')).toThrow(/linear/);
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

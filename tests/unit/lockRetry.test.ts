import { describe, expect, it } from 'vitest';
import type { ProgramRun } from '../../src/exec/process.js';
import { failedOnLockTimeout, lockTimeoutSchedule, nonTransactionalReason, retryWaitMs } from '../../src/pipeline/lockRetry.js';

const run = (ok: boolean, stderr: string, extra: Partial<ProgramRun> = {}): ProgramRun => ({ command: 'alembic upgrade head', exitCode: ok ? 0 : 1, signal: undefined, stdout: '', stderr, durationMs: 1, timedOut: false, cancelled: false, ok, ...extra });

describe('lock retry schedule', () => {
  it('doubles the lock_timeout up to the ceiling, never below 100 ms', () => {
    expect(lockTimeoutSchedule(5, 5000)).toEqual([156, 313, 625, 1250, 2500, 5000]);
    expect(lockTimeoutSchedule(5, 1000)).toEqual([100, 100, 125, 250, 500, 1000]);
    expect(lockTimeoutSchedule(0, 5000)).toEqual([5000]);
    // A ceiling under the floor is still the ceiling: --lock-timeout is never exceeded.
    expect(lockTimeoutSchedule(2, 50)).toEqual([50, 50, 50]);
  });

  it('jitters each pause by ±50 % around a doubling base', () => {
    expect(retryWaitMs(1, () => 0)).toBe(125);
    expect(retryWaitMs(1, () => 0.999999)).toBe(375);
    expect(retryWaitMs(3, () => 0.5)).toBe(1000);
  });
});

describe('what counts as a lock timeout', () => {
  it('psycopg2, node-postgres and NOWAIT wording; not a wall-clock timeout or another error', () => {
    expect(failedOnLockTimeout(run(false, 'psycopg2.errors.LockNotAvailable: canceling statement due to lock timeout'))).toBe(true);
    expect(failedOnLockTimeout(run(false, 'error: canceling statement due to lock timeout'))).toBe(true);
    expect(failedOnLockTimeout(run(false, 'ERROR:  could not obtain lock on relation "orders"'))).toBe(true);
    expect(failedOnLockTimeout(run(false, 'psycopg2.errors.UndefinedTable: relation "x" does not exist'))).toBe(false);
    expect(failedOnLockTimeout(run(false, 'canceling statement due to lock timeout', { timedOut: true }))).toBe(false);
    expect(failedOnLockTimeout(run(true, 'lock timeout mentioned in a log line'))).toBe(false);
  });
});

describe('transactional SQL', () => {
  it('accepts statements inside BEGIN ... COMMIT, one transaction or one per migration', () => {
    expect(nonTransactionalReason('BEGIN;\n\nALTER TABLE t ADD COLUMN c int;\n\nCOMMIT;\n\nBEGIN;\nCREATE FUNCTION f() RETURNS int AS $$\nSELECT 1;\n$$ LANGUAGE sql;\nCOMMIT;\n')).toBeUndefined();
  });

  it('refuses an autocommit block, CREATE INDEX CONCURRENTLY, VACUUM and SQL without a transaction', () => {
    expect(nonTransactionalReason('BEGIN;\nCOMMIT;\n\nCREATE INDEX CONCURRENTLY i ON t (c);\n\nBEGIN;\nCOMMIT;\n')).toMatch(/CREATE INDEX CONCURRENTLY/);
    expect(nonTransactionalReason('BEGIN;\nCOMMIT;\nUPDATE t SET c = 1;\nBEGIN;\nCOMMIT;\n')).toMatch(/"UPDATE t SET c = 1;" runs outside a transaction/);
    expect(nonTransactionalReason('VACUUM t;\n')).toMatch(/VACUUM/);
    expect(nonTransactionalReason('ALTER TABLE t ADD COLUMN c int;\n')).toMatch(/outside a transaction/);
    expect(nonTransactionalReason('-- nothing\n')).toMatch(/opens no transaction/);
  });
});

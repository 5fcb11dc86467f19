import { describe, expect, it } from 'vitest';
import { ExitCode, OrchestrateError, RefusedError, UsageError } from '../../src/errors.js';
import { blockingFindings, enforcePolicy, judgeRehearsal, type LintFinding, type RehearsalTrace } from '../../src/lint/index.js';

const policy = { lockBudgetMs: 1000, rewriteRowLimit: 100_000 };

/** The trace of ALTER COLUMN TYPE on a 200k-row table: rewritten under a long ACCESS EXCLUSIVE lock. */
const rewrite: RehearsalTrace = {
  locks: [
    { table: 'orders', strongestMode: 'AccessExclusiveLock', strongestHeldMs: 2345.6 },
    { table: 'users', strongestMode: 'ShareRowExclusiveLock', strongestHeldMs: 5000 },
  ],
  rewrittenTables: ['orders'],
  rowCounts: { orders: 200_000, users: 10 },
};

function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('judgeRehearsal', () => {
  it('in production, a lock over budget and a big rewrite block, naming the table and the measured ms', () => {
    const findings = judgeRehearsal(rewrite, policy, 'production');
    expect(findings.map((finding) => [finding.rule, finding.severity, finding.table])).toEqual([
      ['lock-budget', 'block', 'orders'],
      ['table-rewrite', 'block', 'orders'],
    ]);
    expect(findings[0]?.message).toContain('orders');
    expect(findings[0]?.message).toContain('2346 ms');
    expect(findings[0]?.message).toContain('budget 1000 ms');
    expect(findings[1]?.message).toMatch(/200000 rows.*limit 100000.*2346 ms/);
    expect(findings.every((finding) => finding.source === 'dynamic')).toBe(true);
  });

  it('the same trace in development or staging only warns', () => {
    for (const env of ['development', 'staging'] as const) {
      expect(judgeRehearsal(rewrite, policy, env).map((finding) => finding.severity)).toEqual(['warn', 'warn']);
    }
  });

  it('weaker locks, a lock within budget and a small rewrite do not block', () => {
    const findings = judgeRehearsal(
      {
        locks: [
          { table: 'orders', strongestMode: 'ACCESS EXCLUSIVE', strongestHeldMs: 1000 },
          { table: 'users', strongestMode: 'ShareLock', strongestHeldMs: 60_000 },
        ],
        rewrittenTables: ['orders'],
        rowCounts: { orders: 100_000 },
      },
      policy,
      'production',
    );
    expect(findings.map((finding) => [finding.rule, finding.severity])).toEqual([['table-rewrite', 'info']]);
    expect(blockingFindings(findings)).toEqual([]);
  });

  it('ADD COLUMN ... DEFAULT 5: a brief lock and no rewrite gives nothing', () => {
    const trace = { locks: [{ table: 'orders', strongestMode: 'AccessExclusiveLock', strongestHeldMs: 3 }], rewrittenTables: [], rowCounts: { orders: 200_000 } };
    expect(judgeRehearsal(trace, policy, 'production')).toEqual([]);
  });

  it('a rewrite of a table whose size is unknown is judged as too big', () => {
    const findings = judgeRehearsal({ locks: [], rewrittenTables: ['orders'], rowCounts: {} }, policy, 'production');
    expect(findings.map((finding) => finding.severity)).toEqual(['block']);
  });

  it('follows the configured budget', () => {
    const findings = judgeRehearsal(rewrite, { lockBudgetMs: 5000, rewriteRowLimit: 1_000_000 }, 'production');
    expect(blockingFindings(findings)).toEqual([]);
  });
});

describe('enforcePolicy', () => {
  const blocking = judgeRehearsal(rewrite, policy, 'production');
  const warning: LintFinding = { source: 'static', rule: 'ban-drop-column', severity: 'warn', message: 'Dropping a column may break existing clients.' };

  it('refuses blocking findings with exit 3, listing each', () => {
    const error = thrown(() => enforcePolicy([warning, ...blocking], { force: false }));
    expect(error).toBeInstanceOf(RefusedError);
    expect((error as OrchestrateError).exitCode).toBe(ExitCode.Refused);
    expect((error as Error).message).toContain('2 blocking findings');
    expect((error as Error).message).toContain('[lock-budget] orders');
    expect((error as Error).message).toContain('[table-rewrite] orders');
    expect((error as Error).message).not.toContain('ban-drop-column');
    expect((error as OrchestrateError).hint).toContain('--force --reason');
  });

  it('--force without --reason is a usage error, even with nothing to override', () => {
    for (const reason of [undefined, '', '   ']) {
      expect(thrown(() => enforcePolicy(blocking, { force: true, reason }))).toBeInstanceOf(UsageError);
      expect(thrown(() => enforcePolicy([], { force: true, reason }))).toBeInstanceOf(UsageError);
    }
  });

  it('--force --reason overrides and hands back what was overridden', () => {
    expect(enforcePolicy([warning, ...blocking], { force: true, reason: 'maintenance window 02:00' })).toEqual({ blocked: blocking, overridden: true });
  });

  it('nothing blocking: passes, nothing overridden', () => {
    expect(enforcePolicy([warning], { force: false })).toEqual({ blocked: [], overridden: false });
    expect(enforcePolicy([warning], { force: true, reason: 'why not' })).toEqual({ blocked: [], overridden: false });
  });
});

import { analyzeDowngrade, blockingFindings, describeChange, enforcePolicy, judgeRehearsal, lintMigrations, previewFailure, type LintFinding } from '../lint/index.js';
import { errorMessage } from '../errors.js';
import type { StepResult } from './runner.js';
import type { MigrationRunState } from './state.js';

/**
 * Before anything runs: squawk's static findings, what the migrations destroy (with row counts) and
 * source files that still use what they drop. Static findings are advice (linters guess); configured
 * code-reference blocks stop the run unless overridden with --force --reason.
 */
export async function analyseMigrations(state: MigrationRunState): Promise<void> {
  const { context, target, plan, options } = state;
  if (!plan || plan.migrations.length === 0) return;
  try {
    if (options.direction === 'upgrade' && plan.to !== null) {
      const report = await lintMigrations(context, target, { from: plan.from, to: plan.to });
      state.findings.push(...report.findings);
      state.destructive = report.destructive;
      state.rendered = report.rendered;
      // The run goes on, rehearsed as ever, but never with part of the analysis silently missing.
      for (const entry of report.rendered) {
        if (entry.cannotPreview === undefined) continue;
        const warning = `${entry.migration}: ${previewFailure(entry.cannotPreview)}; the static analysis skips it, the rehearsal runs it`;
        state.warnings.push(warning);
        context.logger.warn({ migration: entry.migration }, warning);
      }
    } else if (plan.from !== null) {
      const analysis = await analyzeDowngrade(context, target, { from: plan.from, to: plan.to });
      if (analysis.known) {
        state.destructive = analysis.changes;
        state.findings.push(
          ...analysis.changes.map((change): LintFinding => ({ source: 'destructive', rule: change.kind, severity: 'warn', ...(change.migration ? { migration: change.migration } : {}), table: change.table, message: describeChange(change), sql: change.statement })),
        );
      } else {
        state.warnings.push(`cannot tell what the downgrade destroys: ${analysis.reason}`);
      }
    }
  } catch (error) {
    const warning = `the safety analysis could not run: ${errorMessage(error)}`;
    state.warnings.push(warning);
    // Said in the terminal as well as the report: a run must never go on with the analysis silently off.
    context.logger.warn(warning);
  }
  state.recorder.detail('findings', state.findings);
  if (state.destructive) state.recorder.detail('destructive', state.destructive);
  const codeBlocks = state.findings.filter((finding) => finding.source === 'code-reference' && finding.severity === 'block');
  if (codeBlocks.length > 0) recordOverride(state, enforcePolicy(codeBlocks, { force: options.force, reason: options.reason }));
}

function recordOverride(state: MigrationRunState, verdict: { blocked: readonly LintFinding[]; overridden: boolean }): void {
  if (!verdict.overridden) return;
  const note = `--force: ${verdict.blocked.length} blocking finding${verdict.blocked.length === 1 ? '' : 's'} overridden, reason: ${state.options.reason ?? ''}`;
  state.warnings.push(note);
  state.recorder.detail('policyOverride', { reason: state.options.reason, overridden: verdict.blocked });
}

/** The destructive changes as lines for a confirmation or a refusal. */
export function destructiveLines(state: MigrationRunState): string[] {
  return (state.destructive ?? []).map((change) => `${change.migration ? `${change.migration}: ` : ''}${describeChange(change)}`);
}

/**
 * After the rehearsal: what it measured (ACCESS EXCLUSIVE held longer than the lock budget, rewrites of
 * big tables) judged by the policy. In production a breach refuses the run before production is
 * touched (exit 3) unless --force with --reason.
 */
export async function judgeMeasurements(state: MigrationRunState): Promise<StepResult> {
  const { context, rehearsal, options } = state;
  if (!rehearsal) return { detail: 'nothing measured' };
  const findings = judgeRehearsal({ locks: rehearsal.locks, rewrittenTables: rehearsal.rewrittenTables, rowCounts: rehearsal.rowEstimates }, context.settings.policy, context.settings.env);
  state.findings.push(...findings);
  state.recorder.detail('findings', state.findings);
  const blocking = blockingFindings(findings);
  if (blocking.length > 0) recordOverride(state, enforcePolicy(blocking, { force: options.force, reason: options.reason }));
  return { detail: `${findings.length} measured finding${findings.length === 1 ? '' : 's'}${blocking.length > 0 ? `, ${blocking.length} blocking, overridden by --force` : ''}` };
}

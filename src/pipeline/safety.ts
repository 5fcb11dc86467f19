import { analyzeDowngrade, blockingFindings, describeChange, describeLoss, enforcePolicy, judgeRehearsal, lintMigrations, previewFailure, type DestructiveChange, type LintFinding } from '../lint/index.js';
import { RefusedError, errorMessage } from '../errors.js';
import { canPrompt, confirm } from '../util/prompt.js';
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
  return (state.destructive ?? []).map(describeLoss);
}

/** `public.t` and `t` name the same table when the SQL left the schema out (the analysis cannot know the search_path). */
function sameTable(a: string, b: string): boolean {
  return a === b || a === `public.${b}` || b === `public.${a}`;
}

/** Whether a change the SQL analysis named covers one the rehearsal found (a DROP SCHEMA ... CASCADE covers its tables). */
function covers(known: DestructiveChange, found: DestructiveChange): boolean {
  if (known.kind === 'drop-schema') return found.table.startsWith(`${known.table}.`);
  return known.kind === found.kind && sameTable(known.table, found.table) && known.column === found.column;
}

/** What the rehearsal destroyed that the SQL analysis did not name (it could not render or parse it). */
function newlyFound(state: MigrationRunState, destroyed: readonly DestructiveChange[]): DestructiveChange[] {
  return destroyed.filter((found) => !(state.destructive ?? []).some((known) => covers(known, found)));
}

/**
 * The rehearsal's certain list of what the migration destroys joins the static one in the report and
 * the confirmation. What the SQL analysis missed was not in the preflight confirmation: in production,
 * with a terminal and without --yes, it is asked for again; declining refuses the run (exit 3) before
 * production is touched.
 */
async function confirmDestroyed(state: MigrationRunState, destroyed: readonly DestructiveChange[]): Promise<void> {
  const { context, options } = state;
  const added = newlyFound(state, destroyed);
  if (added.length === 0) return;
  state.destructive = [...(state.destructive ?? []), ...added];
  state.recorder.detail('destructive', state.destructive);
  const lines = added.map(describeLoss);
  for (const line of lines) context.logger.warn({ destructive: true }, line);
  if (context.settings.env !== 'production' || options.dryRun || context.settings.yes) return;
  const question = `The rehearsal found that this run also destroys data: ${lines.join('; ')}. Continue with production?`;
  if (!canPrompt() || !(await confirm(question))) throw new RefusedError(`not confirmed. The rehearsal found that the run destroys data: ${lines.join('; ')}`);
}

/**
 * After the rehearsal: what it measured (ACCESS EXCLUSIVE held longer than the lock budget, rewrites of
 * big tables) and what it destroyed, judged by the policy. In production a breach refuses the run before
 * production is touched (exit 3) unless --force with --reason. Destruction the SQL analysis missed is
 * confirmed (confirmDestroyed).
 */
export async function judgeMeasurements(state: MigrationRunState): Promise<StepResult> {
  const { context, rehearsal, options } = state;
  if (!rehearsal) return { detail: 'nothing measured' };
  const findings = judgeRehearsal(
    { locks: rehearsal.locks, rewrittenTables: rehearsal.rewrittenTables, rowCounts: rehearsal.rowEstimates, destroyed: rehearsal.destroyed },
    context.settings.policy,
    context.settings.env,
  );
  state.findings.push(...findings);
  state.recorder.detail('findings', state.findings);
  const blocking = blockingFindings(findings);
  if (blocking.length > 0) recordOverride(state, enforcePolicy(blocking, { force: options.force, reason: options.reason }));
  await confirmDestroyed(state, rehearsal.destroyed);
  return { detail: `${findings.length} measured finding${findings.length === 1 ? '' : 's'}${blocking.length > 0 ? `, ${blocking.length} blocking, overridden by --force` : ''}` };
}

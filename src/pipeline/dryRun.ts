import { preflightBackup } from '../backup/index.js';
import type { RunContext } from '../context.js';
import { describeTarget } from '../db/target.js';
import { errorMessage } from '../errors.js';
import { migrationSteps } from './migrationRun.js';
import { lockTimeoutSchedule } from './lockRetry.js';
import { preflight } from './preflight.js';
import { pendingRecoveryWarnings } from './recovery.js';
import { RunRecorder } from './recorder.js';
import { newRunState, type MigrationRunOptions, type Plan } from './state.js';
import { previewFailure, type LintFinding, type RenderedMigration } from '../lint/index.js';
import type { CheckResult } from '../validation/checks.js';
import { destructiveLines } from './safety.js';

export interface DryRunPlan {
  readonly database: string;
  readonly env: string;
  readonly plan: Plan;
  readonly steps: readonly { readonly name: string; readonly what: string }[];
  readonly sql: string | null;
  readonly backup: { readonly estimatedBytes: number; readonly freeBytes: number; readonly serverVersion: string; readonly pgDumpVersion: string } | { readonly refused: string } | null;
  readonly warnings: readonly string[];
  readonly findings: readonly LintFinding[];
  readonly destructive: readonly string[];
  readonly checks: readonly CheckResult[];
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * What a run would do, without doing any of it: no lock, no backup file, no scratch database, no
 * journal or report, nothing written to the database. Reads the catalogs and asks the tool for SQL.
 */
export async function dryRun(context: RunContext, options: MigrationRunOptions): Promise<DryRunPlan> {
  const target = context.target();
  const steps = migrationSteps(options);
  const recorder = new RunRecorder(context.settings.reportDir, context.logger, { runId: context.runId, command: options.command, applicationName: context.applicationName, startedAt: context.startedAt, steps: steps.map((step) => step.name) }, false);
  const state = newRunState(context, options, recorder);
  const recovery = pendingRecoveryWarnings(context, target);
  await preflight(state);
  state.warnings.unshift(...recovery);
  const plan = state.plan;
  if (!plan) throw new Error('preflight produced no plan');

  let backup: DryRunPlan['backup'] = null;
  if (!options.skipBackup && plan.migrations.length > 0) {
    backup = await preflightBackup(context, target).catch((error: unknown) => ({ refused: errorMessage(error) }));
  }
  const sql = options.direction === 'upgrade' && state.rendered ? previewSql(state.rendered) : null;
  const { pipeline } = context.settings;
  // A dry run rehearses nothing, so the policy step's own test (a rehearsal record) would always say
  // "skipped"; what matters is whether the real run would rehearse and so have measurements to judge.
  const rehearsalSkipped = steps.find((step) => step.name === 'rehearsal')?.skipWhen?.(state) !== undefined;
  const what: Record<string, string> = {
    preflight: 'connectivity, versions, pending migrations, sessions that would block DDL',
    'tool target': `prove the migration tool connects to the database given in ${context.settings.migrator.urlEnv}: its read-only current against a throwaway proof database (exit 3 if it connects elsewhere)`,
    lock: 'session advisory lock on a dedicated connection (pg_try_advisory_lock, polled); "before" snapshot',
    backup: backup && 'estimatedBytes' in backup ? `pg_dump (${context.settings.backup.format}) of ~${mib(backup.estimatedBytes)} into ${context.settings.backupDir} (${mib(backup.freeBytes)} free), then verified` : 'pg_dump, then verified',
    rehearsal: 'restore the backup into a scratch database, run the same migration there, validate, trace locks and rewrites; drop the scratch database',
    policy: `judge what the rehearsal will measure: ACCESS EXCLUSIVE held over ${context.settings.policy.lockBudgetMs} ms or a rewrite of a table over ${context.settings.policy.rewriteRowLimit} rows ${context.settings.env === 'production' ? 'refuses the run' : 'is a warning'}`,
    migrate: `run the tool against production with lock_timeout up to ${pipeline.lockTimeoutMs} ms and a ${pipeline.timeoutSeconds} s limit${pipeline.lockRetries > 0 ? `; a lock timeout that changed nothing is retried up to ${pipeline.lockRetries} times with growing lock_timeouts (${lockTimeoutSchedule(pipeline.lockRetries, pipeline.lockTimeoutMs).join(', ')} ms)` : ''}`,
    validate: 'revision, schema equal to the rehearsal, no NOT VALID constraint or invalid index, critical tables, smoke queries',
  };
  return {
    database: describeTarget(target),
    env: context.settings.env,
    plan,
    steps: steps.map((step) => {
      const skipped = step.name === 'policy' ? (rehearsalSkipped ? 'no rehearsal: nothing measured' : undefined) : step.skipWhen?.(state);
      return { name: step.name, what: skipped ? `skipped: ${skipped}` : (what[step.name] ?? '') };
    }),
    sql,
    backup,
    warnings: state.warnings,
    findings: state.findings,
    destructive: destructiveLines(state),
    checks: state.preflightChecks ?? [],
  };
}

/** The pending migrations' SQL, each under its own name; one that cannot be rendered says why instead. */
function previewSql(rendered: readonly RenderedMigration[]): string {
  return rendered
    .map((entry) => `-- ${entry.migration}${entry.sql === undefined ? `: ${entry.cannotPreview !== undefined ? previewFailure(entry.cannotPreview) : 'no SQL shown without running it'}` : `\n${entry.sql.trim()}`}`)
    .join('\n\n');
}

export function renderDryRun(plan: DryRunPlan): string {
  const lines = [`DRY RUN: nothing will be changed. ${plan.database} (${plan.env})`, ''];
  // Never a bare "nothing to do" over a run that died half-way.
  if (plan.plan.migrations.length === 0) return [`${lines.join('\n')}up to date at ${plan.plan.from ?? 'base'}: nothing to do`, ...plan.warnings.map((warning) => `WARNING: ${warning}`)].join('\n');
  lines.push(`${plan.plan.from ?? 'base'} -> ${plan.plan.to ?? 'base'}:`);
  for (const migration of plan.plan.migrations) lines.push(`  ${migration.id}  ${migration.description}`);
  lines.push('', 'Steps:');
  plan.steps.forEach((step, index) => lines.push(`  ${index + 1}. ${step.name}: ${step.what}`));
  if (plan.checks.length > 0) {
    lines.push('', 'Preflight checks:');
    for (const check of plan.checks) lines.push(`  ${check.status.toUpperCase().padEnd(4)} ${check.name}: ${check.detail}`);
  }
  if (plan.backup && 'refused' in plan.backup) lines.push('', `Backup would be refused: ${plan.backup.refused}`);
  for (const warning of plan.warnings) lines.push(`WARNING: ${warning}`);
  if (plan.destructive.length > 0) lines.push('', 'Destroys data:', ...plan.destructive.map((line) => `  ${line}`));
  const advice = plan.findings.filter((finding) => finding.source !== 'destructive');
  if (advice.length > 0) {
    lines.push('', 'Safety findings (static analysis: advice; the rehearsal measures):');
    for (const finding of advice) {
      const where = [finding.migration, finding.table].filter((part) => part !== undefined).join(', ');
      lines.push(`  ${finding.severity.toUpperCase().padEnd(5)} ${finding.rule}${where ? ` [${where}]` : ''}: ${finding.message}${finding.link ? ` (${finding.link})` : ''}`);
    }
  }
  if (plan.sql) lines.push('', 'SQL:', plan.sql.trimEnd());
  return lines.join('\n');
}

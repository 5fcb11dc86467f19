import { createBackup } from '../backup/index.js';
import type { RunContext } from '../context.js';
import { judgeRehearsal, type LintFinding } from '../lint/index.js';
import { migrationSteps } from './migrationRun.js';
import { preflight } from './preflight.js';
import { withPrivateBackups } from './privateBackups.js';
import { RunRecorder } from './recorder.js';
import { dropScratch, rehearse } from './rehearsal.js';
import { proveToolTargetStep } from './targetProof.js';
import { newRunState, type MigrationRunOptions, type RehearsalRecord } from './state.js';

export interface RehearsalFindings {
  readonly findings: readonly LintFinding[];
  readonly rehearsal: RehearsalRecord | undefined;
}

/**
 * `lint --rehearse`: the rehearsal alone, for its measurements. A private dump (not added to the
 * backup store) restored into a scratch database, the migration run there while locks are sampled,
 * the scratch database dropped. Production is only read; no journal or report is written.
 */
export async function rehearseForFindings(context: RunContext, targetSpec: string): Promise<RehearsalFindings> {
  const options: MigrationRunOptions = { command: 'upgrade', direction: 'upgrade', targetSpec, dryRun: true, skipBackup: false, skipRehearsal: false, force: false, reason: undefined };
  const recorder = new RunRecorder(context.settings.reportDir, context.logger, { runId: context.runId, command: 'lint', applicationName: context.applicationName, startedAt: context.startedAt, steps: migrationSteps(options).map((step) => step.name) }, false);
  const rehearsal = await withPrivateBackups(context, async (privateContext) => {
    const state = newRunState(privateContext, options, recorder);
    try {
      await preflight(state);
      if (!state.plan || state.plan.migrations.length === 0) return undefined;
      await proveToolTargetStep(state);
      state.backup = await createBackup(privateContext, state.target, { reason: 'manual', revision: state.plan.from });
      await rehearse(state);
      return state.rehearsal;
    } finally {
      await dropScratch(state).catch(() => undefined);
    }
  });
  const findings = rehearsal ? judgeRehearsal({ locks: rehearsal.locks, rewrittenTables: rehearsal.rewrittenTables, rowCounts: rehearsal.rowEstimates, destroyed: rehearsal.destroyed }, context.settings.policy, context.settings.env) : [];
  return { findings, rehearsal };
}

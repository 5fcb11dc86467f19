import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBackup } from '../backup/index.js';
import type { RunContext } from '../context.js';
import { judgeRehearsal, type LintFinding } from '../lint/index.js';
import { migrationSteps } from './migrationRun.js';
import { preflight } from './preflight.js';
import { RunRecorder } from './recorder.js';
import { dropScratch, rehearse } from './rehearsal.js';
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
  const dumpDir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-lint-dump-'));
  const privateContext: RunContext = { ...context, settings: { ...context.settings, backupDir: dumpDir } };
  const options: MigrationRunOptions = { command: 'upgrade', direction: 'upgrade', targetSpec, dryRun: true, skipBackup: false, skipRehearsal: false, force: false, reason: undefined };
  const recorder = new RunRecorder(context.settings.reportDir, context.logger, { runId: context.runId, command: 'lint', applicationName: context.applicationName, startedAt: context.startedAt, steps: migrationSteps(options).map((step) => step.name) }, false);
  const state = newRunState(privateContext, options, recorder);
  try {
    await preflight(state);
    if (!state.plan || state.plan.migrations.length === 0) return { findings: [], rehearsal: undefined };
    state.backup = await createBackup(privateContext, state.target, { reason: 'manual', revision: state.plan.from });
    await rehearse(state);
  } finally {
    await dropScratch(state).catch(() => undefined);
    rmSync(dumpDir, { recursive: true, force: true });
  }
  const rehearsal = state.rehearsal;
  const findings = rehearsal ? judgeRehearsal({ locks: rehearsal.locks, rewrittenTables: rehearsal.rewrittenTables, rowCounts: rehearsal.rowEstimates }, context.settings.policy, context.settings.env) : [];
  return { findings, rehearsal };
}

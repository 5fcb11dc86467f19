import { createBackup, restoreIntoNewDatabase } from '../backup/index.js';
import type { RunContext } from '../context.js';
import { dropDatabase } from '../backup/databases.js';
import { withClient } from '../db/client.js';
import { describeTarget, withDatabase, type DbTarget } from '../db/target.js';
import { ExitCode, OrchestrateError, ToolError } from '../errors.js';
import { failureSummary } from '../exec/process.js';
import { pendingUpgrades, resolveTarget, type Revision } from '../migrators/plan.js';
import { validateDatabase } from '../validation/checks.js';
import { diffFingerprints, schemaFingerprint, type SchemaFingerprint } from '../validation/fingerprint.js';
import { withPrivateBackups } from './privateBackups.js';
import { scratchDatabaseName } from './rehearsal.js';
import { proveToolTarget } from './targetProof.js';
import { runTool } from './toolStep.js';
import type { Direction } from './state.js';

export interface SelfTestStage {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly detail: string;
}

export interface SelfTestResult {
  readonly database: string;
  readonly from: Revision;
  readonly to: Revision;
  readonly stages: readonly SelfTestStage[];
  readonly ok: boolean;
  /** The first thing that differed or failed. */
  readonly failure?: string;
}

class SelfTestFailure extends OrchestrateError {
  constructor(message: string) {
    super(message, ExitCode.RehearsalFailed);
  }
}

/**
 * `orchestrate test`: on a scratch copy restored from a fresh dump, upgrade -> validate -> downgrade to
 * the start (schema must equal the start) -> upgrade again (schema must equal the first upgrade).
 * Catches a downgrade that forgets something before production ever needs it. Production is only read.
 */
export async function selfTest(context: RunContext, targetSpec: string): Promise<SelfTestResult> {
  const target = context.target();
  const migrator = context.migrator();
  const inspect = `${context.applicationName}/inspect`;
  const toolName = `${context.applicationName}/test`;
  const stages: SelfTestStage[] = [];
  const { pipeline } = context.settings;
  const session = { applicationName: toolName, lockTimeoutMs: pipeline.lockTimeoutMs, timeoutMs: pipeline.timeoutSeconds * 1000 };

  const [migrations, state] = await Promise.all([migrator.migrations(), migrator.state(target, { applicationName: inspect })]);
  const to = resolveTarget(migrations, state.current, targetSpec);
  if (to === null) throw new SelfTestFailure('test needs a target revision above base');
  let from: Revision = state.current;
  const nothingPending = pendingUpgrades(migrations, state, to).length === 0;
  if (nothingPending) {
    // Up to date: exercise the newest migration by starting one step below it.
    from = resolveTarget(migrations, to, '-1');
  }

  const scratch = withDatabase(target, scratchDatabaseName(target.database, context.runId, 'test'));
  const stage = async (name: string, work: () => Promise<string>): Promise<void> => {
    const started = performance.now();
    try {
      const detail = await work();
      stages.push({ name, ok: true, durationMs: Math.round(performance.now() - started), detail });
      context.logger.info({ stage: name, detail }, `test: ${name}`);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      stages.push({ name, ok: false, durationMs: Math.round(performance.now() - started), detail });
      throw error instanceof OrchestrateError ? error : new SelfTestFailure(detail);
    }
  };
  const move = async (direction: Direction, revision: Revision): Promise<string> => {
    const run = await runTool(migrator, scratch, direction, revision, session);
    if (!run.ok) throw new ToolError(`${direction} to ${revision ?? 'base'} failed: ${failureSummary(run.stderr || run.stdout)}`, run.stderr, ExitCode.RehearsalFailed);
    return `${direction} to ${revision ?? 'base'} in ${run.durationMs} ms`;
  };
  const fingerprint = (db: DbTarget) => withClient(db, inspect, (client) => schemaFingerprint(client));
  const mustEqual = (expected: SchemaFingerprint, actual: SchemaFingerprint, expectedLabel: string, actualLabel: string) => {
    const differences = diffFingerprints(expected, actual, { expected: expectedLabel, actual: actualLabel });
    if (differences.length > 0) throw new SelfTestFailure(`${actualLabel} differs from ${expectedLabel}: ${differences.slice(0, 5).join('; ')}`);
  };

  let failure: string | undefined;
  try {
    await stage('tool target', async () => {
      const proof = await proveToolTarget({ migrator: context.settings.migrator, server: target, target, runId: context.runId, applicationName: toolName, inspectName: inspect, lockTimeoutMs: pipeline.lockTimeoutMs, timeoutMs: session.timeoutMs });
      for (const warning of proof.warnings) context.logger.warn(warning);
      return proof.detail;
    });
    await stage('copy', () =>
      withPrivateBackups(context, async (dumpContext) => {
        const manifest = await createBackup(dumpContext, target, { reason: 'manual', revision: state.current });
        await restoreIntoNewDatabase(dumpContext, manifest.id, scratch);
        return `${describeTarget(target)} copied into ${scratch.database}`;
      }),
    );
    if (nothingPending) await stage(`prepare: downgrade to ${from ?? 'base'}`, () => move('downgrade', from));
    const start = await fingerprint(scratch);
    let upgraded: SchemaFingerprint | undefined;
    await stage('upgrade', () => move('upgrade', to));
    await stage('validate', async () => {
      const checks = await withClient(scratch, inspect, (client) => validateDatabase(client, context.settings.validation));
      const failed = checks.filter((check) => check.status === 'fail');
      if (failed.length > 0) throw new SelfTestFailure(`validation failed: ${failed.map((check) => `${check.name}: ${check.detail}`).join('; ')}`);
      upgraded = await fingerprint(scratch);
      return `${checks.length} checks passed`;
    });
    await stage(`downgrade to ${from ?? 'base'}`, () => move('downgrade', from));
    await stage('compare with the start', async () => {
      mustEqual(start, await fingerprint(scratch), 'the start', 'the schema after downgrade');
      return 'schema equal to the start';
    });
    await stage('upgrade again', () => move('upgrade', to));
    await stage('compare with the first upgrade', async () => {
      if (upgraded) mustEqual(upgraded, await fingerprint(scratch), 'the first upgrade', 'the schema after the second upgrade');
      return 'schema equal to the first upgrade';
    });
  } catch (error) {
    // A difference or a failing tool run is the test's verdict; anything else (no connection, no dump) is an error.
    if (!(error instanceof OrchestrateError && error.exitCode === ExitCode.RehearsalFailed)) throw error;
    failure = error.message;
  } finally {
    await withClient(target, inspect, (client) => dropDatabase(client, scratch.database)).catch(() => undefined);
  }
  return { database: describeTarget(target), from, to, stages, ok: failure === undefined, ...(failure ? { failure } : {}) };
}


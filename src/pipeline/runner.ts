import { ExitCode, OrchestrateError, errorMessage } from '../errors.js';
import type { RunRecorder } from './recorder.js';

/** What a step's run returns: a detail line for the journal, and whether the run is complete early (nothing to do). */
export interface StepResult {
  readonly detail?: string;
  readonly stop?: boolean;
}

export interface UndoResult {
  readonly exitCode: ExitCode;
  readonly detail: string;
}

/**
 * One step of a pipeline, as data: a name, a run, and where it has one an undo (after its own failure
 * or a later step's) and a cleanup (always, success or failure: scratch databases, locks).
 */
export interface Step<S> {
  readonly name: string;
  /** Why the step does not run this time, or undefined to run it. */
  readonly skipWhen?: (state: S) => string | undefined;
  readonly run: (state: S) => Promise<StepResult | undefined>;
  /** Exit code when this step fails and nothing had to be undone (usage and lock errors keep their own). */
  readonly failureCode: ExitCode;
  readonly undo?: (state: S, cause: unknown) => Promise<UndoResult>;
  readonly cleanup?: (state: S) => Promise<void>;
}

export interface PipelineOutcome {
  readonly exitCode: ExitCode;
  readonly failedStep?: string;
  readonly error?: unknown;
  /** Set when an undo ran: its verdict decides the exit code. */
  readonly undo?: UndoResult;
  readonly stoppedEarly: boolean;
}

/** Errors whose own exit code is more precise than the failing step's (NeedsHuman: a crashed run found by preflight). */
const KEEPS_OWN_CODE: ReadonlySet<number> = new Set([ExitCode.Usage, ExitCode.Locked, ExitCode.NeedsHuman]);

function failureCode(error: unknown, step: Step<unknown>): ExitCode {
  if (error instanceof OrchestrateError && KEEPS_OWN_CODE.has(error.exitCode)) return error.exitCode;
  return step.failureCode;
}

/** The typed reason a stop was requested with, if it has one (a signal's reason is a plain Error). */
function stopReason(interrupt: AbortSignal): OrchestrateError | undefined {
  return interrupt.reason instanceof OrchestrateError ? interrupt.reason : undefined;
}

/**
 * Runs the steps in order, recording each in the journal. On a failure, the undos of the failed step
 * and of every step before it run newest first; cleanups of every step that started always run.
 */
export async function runSteps<S>(steps: readonly Step<S>[], state: S, recorder: RunRecorder, interrupt?: AbortSignal): Promise<PipelineOutcome> {
  const started: Step<S>[] = [];
  let failure: { step: Step<S>; index: number; error: unknown } | undefined;
  let stoppedEarly = false;
  for (const [index, step] of steps.entries()) {
    if (stoppedEarly) {
      recorder.skip(step.name, 'nothing to do');
      continue;
    }
    if (interrupt?.aborted) {
      // Stopped between steps: what already ran is undone as after a failure of the previous step.
      const error = stopReason(interrupt) ?? new OrchestrateError(`interrupted before ${step.name}`, ExitCode.Refused);
      recorder.skip(step.name, 'interrupted');
      failure = { step: { name: 'interrupt', run: () => Promise.resolve(undefined), failureCode: ExitCode.Refused }, index: index - 1, error };
      break;
    }
    const skipReason = step.skipWhen?.(state);
    if (skipReason) {
      recorder.skip(step.name, skipReason);
      continue;
    }
    started.push(step);
    recorder.started(step.name);
    try {
      const result = await step.run(state);
      recorder.finished(step.name, 'succeeded', result?.detail);
      if (result?.stop) stoppedEarly = true;
    } catch (stepError) {
      // A step stopped by a typed stop request (a lost run lock) failed because of that request.
      const error = (interrupt?.aborted ? stopReason(interrupt) : undefined) ?? stepError;
      recorder.finished(step.name, 'failed', undefined, error);
      failure = { step, index, error };
      break;
    }
  }

  let undo: UndoResult | undefined;
  if (failure) {
    for (const step of steps.slice(failure.index + 1)) {
      if (recorder.step(step.name).status === 'pending') recorder.skip(step.name, `not run: ${failure.step.name} failed`);
    }
    for (const step of steps.slice(0, failure.index + 1).reverse()) {
      if (!step.undo || !started.includes(step)) continue;
      const name = `undo ${step.name}`;
      recorder.started(name);
      try {
        undo = await step.undo(state, failure.error);
        recorder.finished(name, undo.exitCode === ExitCode.RolledBack ? 'succeeded' : 'failed', undo.detail);
      } catch (error) {
        undo = { exitCode: ExitCode.NeedsHuman, detail: `undo of ${step.name} failed: ${errorMessage(error)}` };
        recorder.finished(name, 'failed', undo.detail, error);
      }
      if (undo.exitCode !== ExitCode.RolledBack) break;
    }
  }

  for (const step of [...started].reverse()) {
    if (!step.cleanup) continue;
    try {
      await step.cleanup(state);
    } catch (error) {
      recorder.detail(`cleanup of ${step.name} failed`, errorMessage(error));
    }
  }

  if (!failure) return { exitCode: ExitCode.Success, stoppedEarly };
  return {
    exitCode: undo ? undo.exitCode : failureCode(failure.error, failure.step as Step<unknown>),
    failedStep: failure.step.name,
    error: failure.error,
    ...(undo ? { undo } : {}),
    stoppedEarly: false,
  };
}

import type { DbTarget } from '../db/target.js';
import type { ToolSession } from '../migrators/types.js';
import { runProgram, type ProgramRun } from './process.js';
import { toolEnvironment } from './toolEnv.js';

/**
 * How to start the project's own Alembic: which program, in which directory, URL through which variable.
 * The commands that change or read a database run here; questions about the revision graph and offline
 * SQL go through its Python API (alembicScript.ts).
 */
export interface AlembicInvocation {
  readonly executable: readonly string[];
  readonly cwd: string;
  readonly urlEnv: string;
}

function alembic(invocation: AlembicInvocation, args: readonly string[], db: DbTarget, session: ToolSession): Promise<ProgramRun> {
  const [program, ...leading] = invocation.executable;
  return runProgram({
    program: program ?? 'alembic',
    args: [...leading, ...args],
    cwd: invocation.cwd,
    env: toolEnvironment(db, session, invocation.urlEnv),
    ...(session.timeoutMs !== undefined ? { timeoutMs: session.timeoutMs } : {}),
    ...(session.cancelSignal ? { cancelSignal: session.cancelSignal } : {}),
    ...(session.onOutput ? { onStderr: session.onOutput, onStdout: session.onOutput } : {}),
  });
}

export const alembicCurrent = (invocation: AlembicInvocation, db: DbTarget, session: ToolSession) => alembic(invocation, ['current'], db, session);
export const alembicUpgrade = (invocation: AlembicInvocation, db: DbTarget, target: string, session: ToolSession) =>
  alembic(invocation, ['upgrade', target], db, session);
export const alembicDowngrade = (invocation: AlembicInvocation, db: DbTarget, target: string, session: ToolSession) =>
  alembic(invocation, ['downgrade', target], db, session);

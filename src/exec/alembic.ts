import type { DbTarget } from '../db/target.js';
import type { ToolSession } from '../migrators/types.js';
import { READ_ONLY_LOCK_TIMEOUT_MS, READ_ONLY_TOOL_TIMEOUT_MS, TAIL_OUTPUT_BYTES, runProgram, type ProgramRun } from './process.js';
import { alembicSession } from './alembicSession.js';
import { toolEnvironment } from './toolEnv.js';

/**
 * How to start the project's own Alembic: which program, in which directory, URL through which variable.
 * The commands that change or read a database run here; questions about the revision graph and offline
 * SQL go through its Python API (alembicScript.ts). Both go to the project's Alembic session when it has
 * one (alembicSession.ts), else each call starts its own process.
 */
export interface AlembicInvocation {
  readonly executable: readonly string[];
  readonly cwd: string;
  readonly urlEnv: string;
  /** migrator.urlScheme: the scheme of the URL in urlEnv, default postgresql. */
  readonly urlScheme?: string | undefined;
}

/**
 * `migration`: a run that changes a database, whose output people read (a bounded tail is kept);
 * `read`: a call whose output is parsed, kept whole.
 */
type AlembicCall = 'migration' | 'read';

async function alembic(invocation: AlembicInvocation, args: readonly string[], db: DbTarget, session: ToolSession, call: AlembicCall = 'read'): Promise<ProgramRun> {
  // A read queued behind a migration's lock gives up with the server's own error, which names the statement and table.
  const env = toolEnvironment(db, call === 'read' ? { ...session, lockTimeoutMs: session.lockTimeoutMs ?? READ_ONLY_LOCK_TIMEOUT_MS } : session, invocation.urlEnv, invocation.urlScheme);
  const limits = {
    timeoutMs: session.timeoutMs ?? READ_ONLY_TOOL_TIMEOUT_MS,
    ...(call === 'migration' ? { capture: { mode: 'tail', bytes: TAIL_OUTPUT_BYTES } as const } : {}),
    ...(session.cancelSignal ? { cancelSignal: session.cancelSignal } : {}),
    ...(session.onOutput ? { onStderr: session.onOutput, onStdout: session.onOutput } : {}),
  };
  const server = await alembicSession(invocation);
  if (server) return server.run({ op: 'cli', argv: args, env, ...limits });
  const [program, ...leading] = invocation.executable;
  return runProgram({ program: program ?? 'alembic', args: [...leading, ...args], cwd: invocation.cwd, env, ...limits });
}

export const alembicCurrent = (invocation: AlembicInvocation, db: DbTarget, session: ToolSession) => alembic(invocation, ['current'], db, session);
export const alembicUpgrade = (invocation: AlembicInvocation, db: DbTarget, target: string, session: ToolSession) =>
  alembic(invocation, ['upgrade', target], db, session, 'migration');
export const alembicDowngrade = (invocation: AlembicInvocation, db: DbTarget, target: string, session: ToolSession) =>
  alembic(invocation, ['downgrade', target], db, session, 'migration');

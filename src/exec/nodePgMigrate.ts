import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { DbTarget } from '../db/target.js';
import type { ToolSession } from '../migrators/types.js';
import { READ_ONLY_TOOL_TIMEOUT_MS, TAIL_OUTPUT_BYTES, runProgram, type ProgramRun } from './process.js';
import { toolEnvironment } from './toolEnv.js';

export interface NodePgMigrateInvocation {
  /** Explicit program and leading arguments; default: the project's own node-pg-migrate, else ours. */
  readonly executable: readonly string[] | undefined;
  readonly cwd: string;
  readonly urlEnv: string;
  readonly migrationsDir: string;
  readonly migrationsTable: string;
}

/** The project's own node_modules/.bin/node-pg-migrate, else the copy orchestrate depends on. */
function defaultExecutable(cwd: string): string[] {
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    const bin = path.join(dir, 'node_modules', '.bin', 'node-pg-migrate');
    if (existsSync(bin)) return [bin];
    if (path.dirname(dir) === dir) break;
  }
  const packageJson = createRequire(import.meta.url).resolve('node-pg-migrate/package.json');
  return [process.execPath, path.join(path.dirname(packageJson), 'bin', 'node-pg-migrate.js')];
}

function nodePgMigrate(invocation: NodePgMigrateInvocation, args: readonly string[], db: DbTarget, session: ToolSession): Promise<ProgramRun> {
  const [program, ...leading] = invocation.executable ?? defaultExecutable(invocation.cwd);
  return runProgram({
    program: program ?? 'node-pg-migrate',
    args: [
      ...leading,
      ...args,
      '--migrations-dir',
      invocation.migrationsDir,
      '--migrations-table',
      invocation.migrationsTable,
      '--database-url-var',
      invocation.urlEnv,
    ],
    cwd: invocation.cwd,
    env: toolEnvironment(db, session, invocation.urlEnv),
    timeoutMs: session.timeoutMs ?? READ_ONLY_TOOL_TIMEOUT_MS,
    // up and down change the database; their output is read by people, not parsed.
    capture: { mode: 'tail', bytes: TAIL_OUTPUT_BYTES },
    ...(session.cancelSignal ? { cancelSignal: session.cancelSignal } : {}),
    ...(session.onOutput ? { onStderr: session.onOutput, onStdout: session.onOutput } : {}),
  });
}

/** Applies the next `count` pending migrations. (`up NAME` would apply that one migration alone.) */
export const nodePgMigrateUp = (invocation: NodePgMigrateInvocation, db: DbTarget, count: number, session: ToolSession, dryRun = false) =>
  nodePgMigrate(invocation, ['up', String(count), ...(dryRun ? ['--dry-run'] : [])], db, session);

/** Reverts the newest `count` applied migrations. */
export const nodePgMigrateDown = (invocation: NodePgMigrateInvocation, db: DbTarget, count: number, session: ToolSession) =>
  nodePgMigrate(invocation, ['down', String(count)], db, session);

import type { DbTarget } from '../db/target.js';
import type { ToolSession } from '../migrators/types.js';
import { READ_ONLY_TOOL_TIMEOUT_MS, TAIL_OUTPUT_BYTES, runProgram, type ProgramRun } from './process.js';
import { toolEnvironment } from './toolEnv.js';

export interface CommandInvocation {
  readonly cwd: string;
  readonly urlEnv: string;
  /** migrator.urlScheme: the scheme of the URL in urlEnv, default postgresql. */
  readonly urlScheme?: string | undefined;
}

/**
 * Runs a user-supplied argv template. `{target}` is substituted inside single arguments; there is no
 * shell, so a revision name can never inject a command. Users who need a shell write ["sh", "-c", "..."].
 */
export function runTemplate(
  invocation: CommandInvocation,
  template: readonly string[],
  values: Readonly<Record<string, string>>,
  db: DbTarget | undefined,
  session: ToolSession | undefined,
  /** `migration`: changes a database, its output is read by people (a bounded tail is kept); `read`: parsed, kept whole. */
  call: 'migration' | 'read' = 'read',
): Promise<ProgramRun> {
  const [program, ...args] = template.map((part) => part.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole));
  return runProgram({
    program: program ?? '',
    args,
    cwd: invocation.cwd,
    env: db && session ? toolEnvironment(db, session, invocation.urlEnv, invocation.urlScheme) : {},
    timeoutMs: session?.timeoutMs ?? READ_ONLY_TOOL_TIMEOUT_MS,
    ...(call === 'migration' ? { capture: { mode: 'tail', bytes: TAIL_OUTPUT_BYTES } } : {}),
    ...(session?.cancelSignal ? { cancelSignal: session.cancelSignal } : {}),
    ...(session?.onOutput ? { onStderr: session.onOutput, onStdout: session.onOutput } : {}),
  });
}

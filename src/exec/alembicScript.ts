import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import path from 'node:path';
import type { DbTarget } from '../db/target.js';
import { ExitCode, ToolError, UsageError } from '../errors.js';
import type { ToolSession } from '../migrators/types.js';
import type { AlembicInvocation } from './alembic.js';
import { alembicSession } from './alembicSession.js';
import { failureSummary, runProgram, type ProgramRun } from './process.js';
import { toolEnvironment } from './toolEnv.js';

/**
 * Alembic's own Python API, asked through one short script run by the project's interpreter: the
 * revision graph, the order in which Alembic runs a range, and each revision's offline SQL. Asking
 * Alembic keeps its topological order and merge bookkeeping out of our code, and one interpreter
 * renders every revision of a range (a `--sql` process per revision costs a second each).
 *
 * Offline SQL goes to a buffer of its own (Config.output_buffer) while the migration's print() goes
 * to another: nothing a migration prints is ever read as SQL. A revision that cannot render offline
 * (it reads the database while running) is reported by name with its exception; the others render.
 * `answer(command, args)` is shared with the Alembic session (alembicSession.ts), which asks it in a
 * forked child and reads the answer from a pipe of its own.
 */
export const ALEMBIC_QUESTIONS = String.raw`
import contextlib, io, json, os, sys
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import RevisionStep
from alembic.script import ScriptDirectory

def parents(revision):
    down = revision.down_revision
    return [] if down is None else [down] if isinstance(down, str) else list(down)

def render(config, script, is_upgrade, revision_id):
    revision = script.get_revision(revision_id)
    sql, printed = io.StringIO(), io.StringIO()
    config.output_buffer = sql
    # The database is taken to be just before this one revision: its parents applied (upgrade), or it (downgrade).
    start = (parents(revision) or None) if is_upgrade else revision_id
    step = RevisionStep(script.revision_map, revision, is_upgrade)
    try:
        with contextlib.redirect_stdout(printed), EnvironmentContext(config, script, fn=lambda heads, context: [step], as_sql=True, starting_rev=start, destination_rev=revision_id):
            script.run_env()
    except Exception as error:
        return {"id": revision_id, "error": ("%s: %s" % (type(error).__name__, error)).strip(), "printed": printed.getvalue()}
    return {"id": revision_id, "sql": sql.getvalue(), "printed": printed.getvalue()}

def answer(command, args):
    config = Config(os.environ.get("ALEMBIC_CONFIG") or "alembic.ini")
    script = ScriptDirectory.from_config(config)
    if command == "history":
        revisions = list(script.walk_revisions("base", "heads"))
        revisions.reverse()
        return {"heads": list(script.get_heads()), "revisions": [{"id": r.revision, "parents": parents(r), "description": (r.doc or "").strip()} for r in revisions]}
    if command == "order":
        direction, current, target = args
        heads = tuple(h for h in current.split(",") if h)
        steps = script._upgrade_revs(target, heads) if direction == "upgrade" else script._downgrade_revs(target, heads)
        return {"steps": [step.revision.revision for step in steps]}
    if command == "render":
        direction, ids = args
        return {"revisions": [render(config, script, direction == "upgrade", i) for i in ids.split(",") if i]}
    raise ValueError("unknown command " + command)

def answer_json(command, args):
    try:
        result = answer(command, args)
    except Exception as error:
        result = {"failure": ("%s: %s" % (type(error).__name__, error)).strip()}
    return json.dumps(result)
`;

/**
 * The one-shot form, when there is no session: the answer is one JSON line after a random marker, so a
 * migration writing to the real stdout cannot be mistaken for it.
 */
const SCRIPT = `${ALEMBIC_QUESTIONS}
marker, command, args = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.__stdout__.write("\\n" + marker + answer_json(command, args) + "\\n")
`;

/** Renders offline, without connecting: a tool that takes this long is broken, not slow. */
const SCRIPT_TIMEOUT_MS = 120_000;

export interface AlembicRevision {
  readonly id: string;
  readonly parents: readonly string[];
  readonly description: string;
}

export interface AlembicGraph {
  /** Oldest first, in an order where every revision follows its parents. */
  readonly revisions: readonly AlembicRevision[];
  readonly heads: readonly string[];
}

/** One revision's offline SQL, or why Alembic could not render it; `printed` is what the migration print()ed. */
export type AlembicRendered = { readonly id: string; readonly printed: string } & ({ readonly sql: string } | { readonly error: string });

async function executable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}

export async function onPath(program: string, cwd: string): Promise<string | undefined> {
  if (program.includes('/')) return path.resolve(cwd, program);
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, program);
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}

/** `#!/venv/bin/python3` or `#!/usr/bin/env python3` -> its argv. */
async function shebang(file: string): Promise<string[] | undefined> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(256), 0, 256, 0);
    const line = buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '';
    if (!line.startsWith('#!') || !/python/.test(line)) return undefined;
    return line.slice(2).trim().split(/\s+/);
  } finally {
    await handle.close();
  }
}

/**
 * The interpreter that runs the project's Alembic, from migrator.executable: `python -m alembic`
 * names it; a wrapper (`poetry run alembic`, `uv run alembic`) runs `python` the same way; a plain
 * `alembic` script names it in its `#!` line (pip writes the venv's interpreter there).
 */
export async function alembicPython(invocation: AlembicInvocation): Promise<string[]> {
  const alembicAt = invocation.executable.findIndex((part) => path.basename(part) === 'alembic');
  const [program = 'alembic'] = invocation.executable;
  if (/^python[\d.]*$/.test(path.basename(program))) return [program];
  if (alembicAt > 0) return [...invocation.executable.slice(0, alembicAt), 'python'];
  const file = await onPath(program, invocation.cwd);
  const interpreter = file ? await shebang(file) : undefined;
  if (interpreter) return interpreter;
  const sibling = file ? path.join(path.dirname(file), 'python') : undefined;
  if (sibling && (await executable(sibling))) return [sibling];
  throw new UsageError(`cannot find the Python interpreter that runs ${invocation.executable.join(' ')}`, {
    hint: 'set migrator.executable to the project\'s ["python", "-m", "alembic"] or to its alembic script',
  });
}

/** `-c file` / `--config file` among the executable's own arguments, as the alembic command line reads them. */
function configFile(invocation: AlembicInvocation): string | undefined {
  const args = invocation.executable;
  for (const [index, arg] of args.entries()) {
    if ((arg === '-c' || arg === '--config') && args[index + 1]) return args[index + 1];
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return undefined;
}

async function ask(invocation: AlembicInvocation, args: readonly string[], db?: DbTarget, session?: ToolSession): Promise<unknown> {
  const config = configFile(invocation);
  const env = { ...(db && session ? toolEnvironment(db, session, invocation.urlEnv) : {}), ...(config ? { ALEMBIC_CONFIG: config } : {}) };
  const limits = { timeoutMs: session?.timeoutMs ?? SCRIPT_TIMEOUT_MS, ...(session?.cancelSignal ? { cancelSignal: session.cancelSignal } : {}) };
  const server = await alembicSession(invocation);
  let run: ProgramRun;
  let line: string | undefined;
  if (server) {
    const asked = await server.run({ op: 'question', argv: args, env, ...limits });
    run = asked;
    line = asked.answer || undefined;
  } else {
    const [program = 'python', ...leading] = await alembicPython(invocation);
    const marker = `@@orchestrate-${randomBytes(8).toString('hex')}@@`;
    run = await runProgram({ program, args: [...leading, '-c', SCRIPT, marker, ...args], cwd: invocation.cwd, env, ...limits });
    line = run.stdout.split('\n').find((candidate) => candidate.startsWith(marker))?.slice(marker.length);
  }
  if (!run.ok || line === undefined) {
    throw new ToolError(`alembic (${args[0] ?? ''}) failed: ${failureSummary(run.stderr || run.stdout) || `exit code ${run.exitCode}`}`, run.stderr, ExitCode.Refused);
  }
  const answer = JSON.parse(line) as { failure?: string };
  // Alembic itself refused the question: an unknown revision, a walk it cannot make.
  if (answer.failure !== undefined) throw new UsageError(`alembic: ${answer.failure}`);
  return answer;
}

export async function alembicGraph(invocation: AlembicInvocation): Promise<AlembicGraph> {
  return (await ask(invocation, ['history'])) as AlembicGraph;
}

/** The revisions `alembic upgrade|downgrade <target>` runs from `current`, in the order it runs them. */
export async function alembicOrder(invocation: AlembicInvocation, direction: 'upgrade' | 'downgrade', current: string | null, target: string): Promise<string[]> {
  return ((await ask(invocation, ['order', direction, current ?? '', target])) as { steps: string[] }).steps;
}

/** Each revision's offline SQL, one at a time in one interpreter; the URL is set as for a real run, nothing connects. */
export async function alembicRender(invocation: AlembicInvocation, direction: 'upgrade' | 'downgrade', ids: readonly string[], db: DbTarget, session: ToolSession): Promise<AlembicRendered[]> {
  if (ids.length === 0) return [];
  return ((await ask(invocation, ['render', direction, ids.join(',')], db, session)) as { revisions: AlembicRendered[] }).revisions;
}

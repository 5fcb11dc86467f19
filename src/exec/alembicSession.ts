import { realpathSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { debuglog } from 'node:util';
import { ExitCode, ToolError } from '../errors.js';
import { redact } from '../util/redact.js';
import type { AlembicInvocation } from './alembic.js';
import { ALEMBIC_QUESTIONS, alembicPython, onPath } from './alembicScript.js';
import { COMPLETE_OUTPUT_LIMIT_BYTES, KILL_GRACE_MS, OutputBuffer, armRunLimits, displayCommand, endedRun, overflowError, type OutputCapture, type ProgramRun, type RunLimits } from './process.js';
import { killAtExit, killGroup, resolveProgram, spawnSupervised, type SupervisedChild } from './supervisor.js';

/**
 * One Python interpreter per Alembic project that has imported alembic and sqlalchemy once (a quarter
 * of a second per interpreter start) and forks a child per request. The child does what a fresh
 * process would: `alembic.config.main(argv)` for current/upgrade/downgrade (the command line's own
 * parsing and errors), or one of the questions of alembicScript.ts. Each child starts from the clean
 * imported state: env.py runs fresh, and any engine or pool it makes dies with it.
 *
 * Requests and answers are JSON lines over fd 4, never stdout: each child's stdout, stderr and answer
 * go to pipes of its own, which the server relays framed by request id, so concurrent requests never
 * mix and nothing a migration prints is read as an answer. A timeout or cancel signals just that child
 * (SIGTERM, SIGKILL after the usual grace). The server runs under the supervisor.
 *
 * Each child leads a process group of its own, so that what a migration starts (psql, pg_dump, a
 * worker) ends with its request, as it did with the supervisor's group per process: when the child
 * ends the server SIGKILLs what is left in its group, a timeout or cancel signals the whole group, and
 * the server, told to stop (its control channel closed, or the supervisor's SIGTERM when orchestrate
 * dies), SIGKILLs every live group before it exits. A child also gets the parent-death signal, so a
 * server SIGKILLed outright takes it along; orchestrate's own exit SIGKILLs the groups it knows of.
 */
const SERVER = String.raw`
import atexit, base64, errno, json, os, selectors, signal, sys, traceback
CONTROL = 4

def send(message):
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(CONTROL, data):]

# sys.path[0] as the alembic command line would have it (the script's directory, or the cwd for -m).
if sys.argv[1]:
    sys.path[0] = sys.argv[1]
else:
    del sys.path[0]
try:
    import alembic.command, alembic.config, sqlalchemy
    exec(compile(sys.argv[2], "<orchestrate>", "exec"), globals())
except BaseException as error:
    send({"fatal": ("%s: %s" % (type(error).__name__, error)).strip()})
    sys.exit(1)
# What every env.py run imports next, where the project has it: each child then starts with it loaded.
for module in ("logging.config", "alembic.ddl.postgresql", "sqlalchemy.dialects.postgresql", "psycopg2", "psycopg", "asyncpg"):
    try:
        __import__(module)
    except Exception:
        pass

# Linux's parent-death signal: a request child is SIGKILLed if this interpreter dies without stopping it
# (SIGKILLed itself). It fires when the forking thread ends; this interpreter has only its main thread.
try:
    import ctypes
    prctl = ctypes.CDLL(None, use_errno=True).prctl
except (ImportError, OSError, AttributeError):
    prctl = None
PR_SET_PDEATHSIG = 1
SERVER_PID = os.getpid()
# Each request child leads a process group of its own, with whatever it starts (psql, pg_dump, a worker).
# Whatever is left in it when the child ends is SIGKILLed; the whole group is stopped on a timeout or
# cancel, and every group when the server is told to stop, as the supervisor does for a process per call.
STOP_SIGNALS = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}

def signal_group(pid, signum):
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group has ended (its id, no longer ours, may even be another user's by now)

def stop(signum=None, frame=None):
    for pid in children:
        signal_group(pid, signal.SIGKILL)
    os._exit(0 if signum is None else 128 + signum)

selector = selectors.DefaultSelector()
wake_read, wake_write = os.pipe()
os.set_blocking(wake_read, False)
os.set_blocking(wake_write, False)
signal.signal(signal.SIGCHLD, lambda signum, frame: None)
signal.set_wakeup_fd(wake_write)
# pid -> request id, and each live pipe -> (pid, stream)
children, pipes = {}, {}
for signum in STOP_SIGNALS:
    signal.signal(signum, stop)

def exit_status(error):
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1

def child(request, ends):
    code = 1
    try:
        os.setpgid(0, 0)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            # The server died before the signal was set: nothing would stop this child later.
            if os.getppid() != SERVER_PID:
                os._exit(1)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # What a fresh alembic process has: SIGINT raises KeyboardInterrupt, the others end it.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        for fd in [CONTROL, wake_read, wake_write, selector.fileno(), *pipes, *(read for read, _ in ends)]:
            os.close(fd)
        (_, stdout), (_, stderr), (_, answer_write) = ends
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.close(stdout)
        os.close(stderr)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = [request["argv0"], *request["argv"]]
        if request["op"] == "cli":
            os.close(answer_write)
            alembic.config.main(argv=request["argv"], prog="alembic")
        else:
            with os.fdopen(answer_write, "w") as answer_file:
                answer_file.write(answer_json(request["argv"][0], request["argv"][1:]))
        code = 0
    except SystemExit as error:
        code = exit_status(error)
    except BaseException:
        traceback.print_exc()
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)

def start(request):
    ends = [os.pipe() for _ in range(3)]
    # A stop signal between the fork and the bookkeeping would miss the new child's group.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        pid = os.fork()
        if pid == 0:
            child(request, ends)
        # Here too, so that the group exists before any signal is sent to it, whichever process runs first.
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass  # the child has already ended (it is a zombie until reaped)
        children[pid] = request["id"]
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    for (read, write), stream in zip(ends, ("stdout", "stderr", "answer")):
        os.close(write)
        pipes[read] = (pid, stream)
        selector.register(read, selectors.EVENT_READ)
    send({"id": request["id"], "group": pid})

def relay(fd, drain):
    pid, stream = pipes[fd]
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not data:
            selector.unregister(fd)
            os.close(fd)
            del pipes[fd]
            return
        send({"id": children[pid], "stream": stream, "data": base64.b64encode(data).decode()})
        if not drain:
            return

def reap():
    while children:
        try:
            ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if ended is None:
            return
        pid = ended.si_pid
        # Not yet reaped, so its pid (the group's id) cannot have been reused: what it left running dies now.
        signal_group(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        # Everything the child wrote is in its pipes now; whatever it left running is not waited for.
        for fd in [fd for fd, (owner, _) in pipes.items() if owner == pid]:
            os.set_blocking(fd, False)
            relay(fd, True)
            if fd in pipes:
                selector.unregister(fd)
                os.close(fd)
                del pipes[fd]
        request_id = children.pop(pid)
        if os.WIFSIGNALED(status):
            send({"id": request_id, "signal": os.WTERMSIG(status)})
        else:
            send({"id": request_id, "code": os.waitstatus_to_exitcode(status)})

def control(buffer):
    data = os.read(CONTROL, 65536)
    if not data:
        stop()
    buffer += data
    while b"\n" in buffer:
        line, buffer = buffer.split(b"\n", 1)
        request = json.loads(line)
        if "signal" in request:
            for pid, request_id in children.items():
                if request_id == request["id"]:
                    signal_group(pid, request["signal"])
        else:
            start(request)
    return buffer

selector.register(CONTROL, selectors.EVENT_READ)
selector.register(wake_read, selectors.EVENT_READ)
send({"ready": os.getpid()})
buffer = b""
while True:
    for key, _ in selector.select():
        if key.fd == CONTROL:
            buffer = control(buffer)
        elif key.fd == wake_read:
            while True:
                try:
                    if not os.read(wake_read, 512):
                        break
                except BlockingIOError:
                    break
            reap()
        elif key.fd in pipes:
            relay(key.fd, False)
`;

/** Importing Alembic takes a fraction of a second; an interpreter not ready by then is stuck, and each call gets its own process. */
const START_TIMEOUT_MS = 30_000;
/**
 * An idle session ends after this long: longer than a large run's dump or restore between two Alembic
 * calls, shorter than the hours between a daemon's jobs (each gets a fresh one, with the venv as it is then).
 */
const IDLE_CLOSE_MS = 5 * 60_000;

const debug = debuglog('orchestrate-alembic');

export interface SessionRequest {
  /** `cli`: the alembic command line with `argv`; `question`: alembicScript's answer(argv[0], argv[1:]). */
  readonly op: 'cli' | 'question';
  readonly argv: readonly string[];
  /** Added to orchestrate's environment in the child, before anything connects. */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly cancelSignal?: AbortSignal | undefined;
  readonly capture?: OutputCapture | undefined;
  readonly onStdout?: ((chunk: string) => void) | undefined;
  readonly onStderr?: ((chunk: string) => void) | undefined;
}

/** A ProgramRun plus what a question's child wrote to its answer pipe. */
export interface SessionRun extends ProgramRun {
  readonly answer: string;
}

type ServerMessage =
  | { readonly ready: number }
  | { readonly fatal: string }
  | { readonly id: number; readonly group: number }
  | { readonly id: number; readonly stream: 'stdout' | 'stderr' | 'answer'; readonly data: string }
  | { readonly id: number; readonly code: number }
  | { readonly id: number; readonly signal: number };

interface Pending {
  readonly onGroup: (group: number) => void;
  readonly onStream: (stream: 'stdout' | 'stderr' | 'answer', data: Buffer) => void;
  readonly onExit: (exitCode: number | undefined, signal: string | undefined) => void;
  readonly onLost: (why: string) => void;
}

/** How the alembic command line would run in this project: where its code lies and what it is called with. */
interface Launch {
  readonly interpreter: readonly string[];
  /** The executable's own arguments after `alembic` (-c file, -x k=v, -n name). */
  readonly leading: readonly string[];
  readonly argv0: string;
  /** sys.path[0] of that command line; empty: none (a wrapper whose script we cannot see). */
  readonly pathZero: string;
}

async function launchOf(invocation: AlembicInvocation): Promise<Launch | string> {
  const alembicAt = invocation.executable.findIndex((part) => path.basename(part) === 'alembic');
  if (alembicAt < 0) return `${invocation.executable.join(' ')} is not the alembic command line itself`;
  const interpreter = await alembicPython(invocation).catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
  if (typeof interpreter === 'string') return interpreter;
  const leading = invocation.executable.slice(alembicAt + 1);
  const asModule = invocation.executable[alembicAt - 1] === '-m';
  if (asModule) return { interpreter, leading, argv0: 'alembic', pathZero: realpathSync(invocation.cwd) };
  const script = alembicAt === 0 ? await onPath(invocation.executable[0] ?? 'alembic', invocation.cwd) : undefined;
  return { interpreter, leading, argv0: script ?? 'alembic', pathZero: script ? path.dirname(realpathSync(script)) : '' };
}

export class AlembicSession {
  readonly #supervised: SupervisedChild;
  readonly #control: Socket;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #idleTimer: NodeJS.Timeout | undefined;
  #ended: string | undefined;
  readonly ready: Promise<void>;

  private constructor(
    readonly launch: Launch,
    private readonly invocation: AlembicInvocation,
    private readonly onEnd: () => void,
  ) {
    debug('alembic session starting at %d ms of this process', Math.round(performance.now()));
    const [program = 'python', ...interpreterArgs] = launch.interpreter;
    const file = resolveProgram(program, invocation.cwd, process.env.PATH);
    if (!file) throw new Error(`${program} not found`);
    this.#supervised = spawnSupervised(file, [...interpreterArgs, '-c', SERVER, launch.pathZero, ALEMBIC_QUESTIONS], { env: process.env, cwd: invocation.cwd, controlChannel: true });
    const { child } = this.#supervised;
    this.#control = child.stdio[4] as Socket;
    // Only the control channel keeps orchestrate alive, and only while the server starts or a request runs.
    child.unref();
    for (const stream of child.stdio) if (stream !== this.#control) (stream as Socket | null)?.unref();
    // The server's own output is only ever an import warning: kept for debugging, never parsed.
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => debug('alembic session: %s', redact(chunk.toString('utf8'))));
    let buffered = '';
    this.ready = new Promise<void>((resolve, reject) => {
      this.#control.setEncoding('utf8');
      this.#control.on('data', (chunk: string) => {
        buffered += chunk;
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const message = JSON.parse(buffered.slice(0, newline)) as ServerMessage;
          buffered = buffered.slice(newline + 1);
          if ('ready' in message) {
            debug('alembic session ready at %d ms of this process', Math.round(performance.now()));
            resolve();
          }
          else if ('fatal' in message) reject(new Error(message.fatal));
          else this.#dispatch(message);
          newline = buffered.indexOf('\n');
        }
      });
      const lost = (why: string) => {
        reject(new Error(why));
        this.#end(why);
      };
      this.#control.on('error', (error) => lost(`alembic session channel failed: ${error.message}`));
      this.#control.on('close', () => lost('the alembic session ended'));
      child.on('error', (error) => lost(`could not start the alembic session: ${error.message}`));
      child.on('exit', (code, signal) => lost(`the alembic session ended (${signal ?? `exit code ${code}`})`));
      const startTimer = setTimeout(() => lost(`the alembic session was not ready within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      startTimer.unref();
      this.#control.once('data', () => clearTimeout(startTimer));
    });
    void this.ready.then(() => this.#idle(), () => undefined);
  }

  /** A session for `invocation`, or why there cannot be one (the caller then starts a process per call). */
  static async start(invocation: AlembicInvocation, onEnd: () => void): Promise<AlembicSession | string> {
    try {
      const launch = await launchOf(invocation);
      if (typeof launch === 'string') return launch;
      const session = new AlembicSession(launch, invocation, onEnd);
      await session.ready;
      return session;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }

  #dispatch(message: Exclude<ServerMessage, { ready: number } | { fatal: string }>): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    if ('group' in message) pending.onGroup(message.group);
    else if ('stream' in message) pending.onStream(message.stream, Buffer.from(message.data, 'base64'));
    else if ('code' in message) pending.onExit(message.code, undefined);
    else pending.onExit(undefined, signalName(message.signal));
  }

  /** Ends the server, which SIGKILLs every request's process group first. */
  close(): void {
    this.#end('the alembic session was closed');
  }

  #end(why: string): void {
    if (this.#ended !== undefined) return;
    this.#ended = why;
    clearTimeout(this.#idleTimer);
    this.#control.destroy();
    this.#supervised.stop(KILL_GRACE_MS);
    this.#supervised.release();
    for (const pending of this.#pending.values()) pending.onLost(why);
    this.#pending.clear();
    this.onEnd();
  }

  /** A session nothing asks for a while lets its interpreter go; meanwhile it does not keep orchestrate alive. */
  #idle(): void {
    clearTimeout(this.#idleTimer);
    if (this.#pending.size > 0) {
      this.#control.ref();
      return;
    }
    this.#control.unref();
    this.#idleTimer = setTimeout(() => this.close(), IDLE_CLOSE_MS);
    this.#idleTimer.unref();
  }

  /** Runs one request in a forked child; like runProgram, it resolves for any exit and throws only when the session fails. */
  run(request: SessionRequest): Promise<SessionRun> {
    if (this.#ended !== undefined) return Promise.reject(new ToolError(this.#ended, '', ExitCode.Refused));
    const id = this.#nextId++;
    const argv = request.op === 'cli' ? [...this.launch.leading, ...request.argv] : request.argv;
    const command = request.op === 'cli' ? displayCommand(this.invocation.executable[0] ?? 'alembic', [...this.invocation.executable.slice(1), ...request.argv]) : `alembic (${request.argv[0] ?? ''})`;
    const capture = request.capture ?? { mode: 'complete', limitBytes: COMPLETE_OUTPUT_LIMIT_BYTES };
    const buffers = { stdout: new OutputBuffer(capture), stderr: new OutputBuffer(capture) };
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8'), answer: new StringDecoder('utf8') };
    const listeners = { stdout: request.onStdout, stderr: request.onStderr };
    let answer = '';
    let overflow: 'stdout' | 'stderr' | undefined;
    let forceKill: NodeJS.Timeout | undefined;
    let group: number | undefined;
    let forgetGroup: (() => void) | undefined;
    const started = performance.now();
    const signalChild = (signal: NodeJS.Signals) => {
      if (this.#ended === undefined) this.#control.write(`${JSON.stringify({ id, signal: osConstants.signals[signal] })}\n`);
    };
    const stop = () => {
      signalChild('SIGTERM');
      forceKill ??= setTimeout(() => signalChild('SIGKILL'), KILL_GRACE_MS);
    };
    let limits: RunLimits | undefined;
    return new Promise<SessionRun>((resolve, reject) => {
      const finish = () => {
        limits?.disarm();
        clearTimeout(forceKill);
        forgetGroup?.();
        this.#pending.delete(id);
        this.#idle();
      };
      this.#pending.set(id, {
        onGroup: (leader) => {
          group = leader;
          forgetGroup = killAtExit(leader);
        },
        onStream: (stream, data) => {
          if (stream === 'answer') {
            answer += decoders.answer.write(data);
            return;
          }
          const text = decoders[stream].write(data);
          buffers[stream].add(text);
          listeners[stream]?.(text);
          if (buffers[stream].overflowed && !overflow) {
            overflow = stream;
            stop();
          }
        },
        onExit: (exitCode, signal) => {
          finish();
          debug('%s: %d-%d ms of this process', command, Math.round(started), Math.round(performance.now()));
          if (overflow) {
            reject(overflowError(command, capture, overflow));
            return;
          }
          for (const stream of ['stdout', 'stderr'] as const) {
            const rest = decoders[stream].end();
            if (rest) buffers[stream].add(rest);
          }
          // limits is armed before the request is sent, so before any answer can come.
          const ended = endedRun(command, started, exitCode, signal, limits as RunLimits, buffers.stdout, buffers.stderr);
          resolve({ ...ended, answer: answer + decoders.answer.end() });
        },
        onLost: (why) => {
          // The server may be gone (killed outright) and with it whoever would have stopped this group.
          if (group !== undefined) killGroup(group, 'SIGKILL');
          finish();
          reject(new ToolError(`${command} failed: ${why}`, '', ExitCode.Refused));
        },
      });
      this.#idle();
      limits = armRunLimits(request.timeoutMs, request.cancelSignal, stop);
      this.#control.write(`${JSON.stringify({ id, op: request.op, argv, argv0: this.launch.argv0, cwd: this.invocation.cwd, env: { ...process.env, ...request.env } })}\n`);
    });
  }
}

function signalName(signal: number): string {
  return Object.entries(osConstants.signals).find(([, number]) => number === signal)?.[0] ?? `signal ${signal}`;
}

const sessions = new Map<string, Promise<AlembicSession | undefined>>();

/**
 * The session of `invocation`'s project, started at the first request; undefined when there cannot be
 * one (no interpreter found, alembic does not import, a wrapper that is not the alembic command line),
 * and then every call starts its own process as before.
 */
export function alembicSession(invocation: AlembicInvocation): Promise<AlembicSession | undefined> {
  const key = JSON.stringify([invocation.executable, invocation.cwd]);
  let session = sessions.get(key);
  if (!session) {
    const forget = () => {
      if (sessions.get(key) === session) sessions.delete(key);
    };
    session = AlembicSession.start(invocation, forget).then((started) => {
      if (typeof started !== 'string') return started;
      debug('no alembic session for %s, one process per call: %s', invocation.executable.join(' '), redact(started));
      return undefined;
    });
    sessions.set(key, session);
  }
  return session;
}

/** Ends every session (tests; the process's own exit does it otherwise). */
export async function closeAlembicSessions(): Promise<void> {
  const open = await Promise.all(sessions.values());
  sessions.clear();
  for (const session of open) session?.close();
}

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * Every external program runs under a watchdog so that it cannot outlive orchestrate, even when
 * orchestrate is killed with SIGKILL and has no chance to clean up.
 *
 * The program is started through /bin/sh in a new session (its own process group, whose id is the
 * program's pid). The shell forks a watcher into that group, then execs the program in its own
 * place, so the pid, exit code and signal orchestrate sees are the program's own. The watcher holds
 * the read end of a socket whose other end only orchestrate holds (fd 3). The kernel closes that end
 * when orchestrate exits for any reason, SIGKILL included; the watcher reads EOF and kills the whole
 * group: SIGTERM, up to WATCHER_GRACE for the program to go, then SIGKILL (its own children too).
 * When the program ends normally orchestrate closes the socket itself, and the watcher kills
 * whatever the program left behind in its group, then itself.
 *
 * Cost: one dash start and one fork, a few ms (measured in docs/operations.md). Linux's parent-death
 * signal (setpriv --pdeathsig) would be cheaper but reaches only the direct child, not the tool's own
 * children, and cannot be set from Node for a child; /bin/sh is everywhere orchestrate runs.
 */

/** How long the watcher lets the program handle SIGTERM before SIGKILL, in tenths of a second. */
const WATCHER_GRACE_TENTHS = 5;

// $$ is the program's pid after `exec` (the shell's pid is kept), and its process group id.
// The watcher ignores TERM so that the group-wide SIGTERM does not stop it before its SIGKILL.
const SUPERVISOR_SCRIPT = [
  `{ trap '' TERM INT HUP; read -r _ <&3;`,
  `if kill -0 $$; then kill -s TERM -- -$$; n=0; while [ $n -lt ${WATCHER_GRACE_TENTHS} ] && kill -0 $$; do sleep 0.1; n=$((n+1)); done; fi;`,
  // The watcher also lets go of a control channel (fd 4), so the program sees its end when orchestrate closes it.
  `kill -s KILL -- -$$; } </dev/null >/dev/null 2>&1 4<&- &`,
  `exec "$@" 3<&-`,
].join(' ');

/** argv[0] of the supervising shell, so that `ps` says what it is. */
const SUPERVISOR_NAME = 'orchestrate-supervise';

/** Process groups of programs still running, killed synchronously if orchestrate exits under them. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // The watcher would do it a moment later; on a normal exit there is no reason to wait for it.
  process.on('exit', () => {
    for (const group of liveGroups) killGroup(group, 'SIGKILL');
  });
}

/**
 * Makes `group`, which a supervised program started, be SIGKILLed if orchestrate exits while it lives
 * (the Alembic session's request groups are not in the session's own group). Returns the undo.
 */
export function killAtExit(group: number): () => void {
  installExitHook();
  liveGroups.add(group);
  return () => liveGroups.delete(group);
}

/** Sends `signal` to every process of the group; a group already gone is not an error. */
export function killGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // ESRCH: the group has ended.
  }
}

const resolved = new Map<string, string | undefined>();

/**
 * The file `program` names, found as execvp would (PATH, or relative to `cwd` when it has a slash);
 * undefined when there is none. The shell would report a missing program only as exit 127.
 */
export function resolveProgram(program: string, cwd: string | undefined, pathVariable: string | undefined): string | undefined {
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (program.includes('/')) {
    const file = path.resolve(cwd ?? process.cwd(), program);
    return executable(file) ? file : undefined;
  }
  const key = `${pathVariable ?? ''}\0${program}`;
  if (resolved.has(key)) return resolved.get(key);
  const found = (pathVariable ?? '')
    .split(path.delimiter)
    .filter((dir) => dir.length > 0)
    .map((dir) => path.resolve(cwd ?? process.cwd(), dir, program))
    .find(executable);
  // Only successes are cached: a program installed while the daemon runs is found next time.
  if (found) resolved.set(key, found);
  return found;
}

export interface SupervisedChild {
  readonly child: ChildProcess;
  /** Kills the program and everything it started: SIGTERM to the group, SIGKILL `graceMs` later. */
  stop(graceMs: number): void;
  /** Closes orchestrate's end of the watch socket; the watcher then clears out the group. Call after the program exited. */
  release(): void;
}

/**
 * Starts `file` (already resolved) under the watchdog. stdout and stderr are pipes; stdin is /dev/null.
 * `controlChannel`: the program also gets fd 4, a socket whose other end is `child.stdio[4]`.
 */
export function spawnSupervised(file: string, args: readonly string[], options: { env: NodeJS.ProcessEnv; cwd: string | undefined; controlChannel?: boolean }): SupervisedChild {
  installExitHook();
  const child = spawn('/bin/sh', ['-c', SUPERVISOR_SCRIPT, SUPERVISOR_NAME, file, ...args], {
    env: options.env,
    cwd: options.cwd,
    detached: true,
    stdio: options.controlChannel ? ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const group = child.pid;
  if (group !== undefined) liveGroups.add(group);
  let forceKill: NodeJS.Timeout | undefined;
  const watchSocket = child.stdio[3];
  // Nothing is ever read from or written to it: it only has to stay open while orchestrate lives.
  watchSocket?.on('error', () => undefined);
  child.on('exit', () => {
    if (group !== undefined) liveGroups.delete(group);
  });
  return {
    child,
    stop: (graceMs) => {
      if (group === undefined) return;
      killGroup(group, 'SIGTERM');
      forceKill ??= setTimeout(() => killGroup(group, 'SIGKILL'), graceMs);
      forceKill.unref();
    },
    release: () => {
      if (forceKill) clearTimeout(forceKill);
      watchSocket?.destroy();
    },
  };
}

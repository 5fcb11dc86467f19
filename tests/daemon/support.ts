import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import type { JobName } from '../../src/daemon/jobRunner.js';
import type { Clock, ScheduleHandle, Scheduler } from '../../src/daemon/scheduler.js';
import type { Logger } from '../../src/log/logger.js';
import { createMigrator } from '../../src/migrators/index.js';
import type { startCli } from '../harness/cli.js';

/** The narrow seam of these tests: a scheduler whose ticks the test fires, and a clock it sets. */
export class ManualScheduler implements Scheduler {
  readonly #ticks = new Map<string, { expression: string; tick: () => void }>();

  every(name: string, expression: string, tick: () => void): ScheduleHandle {
    this.#ticks.set(name, { expression, tick });
    return { stop: () => void this.#ticks.delete(name) };
  }

  expression(name: string): string | undefined {
    return this.#ticks.get(name)?.expression;
  }

  fire(name: string): void {
    const entry = this.#ticks.get(name);
    if (!entry) throw new Error(`no job ${name} is scheduled`);
    entry.tick();
  }
}

export class ManualClock {
  #now = new Date();
  readonly clock: Clock = () => new Date(this.#now);
  set(date: Date): void {
    this.#now = date;
  }
}

/** A logger that keeps every line, to check what the daemon reported. */
export function captureLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => lines };
}

export interface InProcessDaemon {
  readonly daemon: Daemon;
  readonly scheduler: ManualScheduler;
  readonly clock: ManualClock;
  readonly settings: Settings;
  readonly lines: () => Record<string, unknown>[];
  /** Fires the job's tick, as cron would, and waits until that execution has finished. */
  tick(name: JobName): Promise<void>;
  get(path: string): Promise<{ status: number; body: string }>;
}

export async function inProcessDaemon(dir: string, databaseUrl: string): Promise<InProcessDaemon> {
  const settings = loadSettings({ flags: { databaseUrl }, env: {}, cwd: dir });
  const scheduler = new ManualScheduler();
  const clock = new ManualClock();
  const { logger, lines } = captureLogger();
  if (!settings.target) throw new Error('no target');
  const daemon = await startDaemon({
    settings,
    target: settings.target,
    migrator: createMigrator(settings.migrator),
    logger,
    applicationName: 'orchestrate/daemontest',
    scheduler,
    clock: clock.clock,
    port: 0,
  });
  return {
    daemon,
    scheduler,
    clock,
    settings,
    lines,
    async tick(name) {
      const runner = daemon.runners.get(name);
      if (!runner) throw new Error(`job ${name} is not enabled`);
      const before = runner.state().runs;
      scheduler.fire(name);
      while (runner.state().runs === before) await new Promise((resolve) => setTimeout(resolve, 20));
    },
    get: (path) => httpGet(`${daemon.url}${path}`),
  };
}

export async function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.text() };
}

/**
 * Prometheus text exposition, parsed strictly: every line is a comment, blank, or `name{labels} value`.
 * Values follow Go's ParseFloat, which takes NaN in any case (prom-client writes `Nan` for an event
 * loop lag not measured yet).
 */
export function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)?\})? (-?[0-9.eE+-]+|[Nn][Aa][Nn]|\+Inf|-Inf)( -?\d+)?$/;
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const match = sample.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    const value = match[3] === '+Inf' ? Number.POSITIVE_INFINITY : match[3] === '-Inf' ? Number.NEGATIVE_INFINITY : Number(match[3]);
    samples.set(`${match[1]}${match[2] ?? ''}`, value);
  }
  return samples;
}

/** An HTTP receiver on loopback that records each request and answers with the given statuses in turn (then 200). */
export async function webhookReceiver(statuses: number[] = []): Promise<{ url: string; requests: { headers: http.IncomingHttpHeaders; body: string }[]; close: () => Promise<void> }> {
  const requests: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      requests.push({ headers: request.headers, body });
      response.writeHead(statuses.shift() ?? 200).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * SIGTERM straight to the process. execa's own kill() would follow up with SIGKILL after 5 s, which
 * is shorter than a daemon job may legitimately take to finish within its grace period.
 */
export function sigterm(subprocess: { readonly pid?: number | undefined }): void {
  if (subprocess.pid === undefined) throw new Error('the process has no pid');
  process.kill(subprocess.pid, 'SIGTERM');
}

/** Resolves with the daemon's URL once it logs that it is listening. */
export function listeningUrl(daemon: ReturnType<typeof startCli>): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /daemon listening\s+url=(http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
      if (match?.[1]) {
        daemon.stderr?.off('data', onData);
        resolve(match[1]);
      }
    };
    daemon.stderr?.on('data', onData);
    void daemon.then((result) => reject(new Error(`daemon exited ${result.exitCode} before listening: ${String(result.all)}`)));
  });
}

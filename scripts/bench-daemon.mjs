#!/usr/bin/env node
// /metrics and /runs latency and the daemon's memory with a large audit ledger:
//   npm run build && node scripts/bench-daemon.mjs [--lines 100000] [--clients 20] [--seconds 15] [--priority -10]
// Writes a ledger of realistic lines (~440 bytes each: 100,000 lines is ~44 MB) into a temporary
// project, starts the real `orchestrate daemon` (no database needed: only /metrics and /runs are
// hit), lets `--clients` clients scrape as fast as they can for `--seconds`, keeps appending runs
// meanwhile (as other processes would), and prints p50/p99/max per endpoint and the daemon's RSS.
// On a shared machine the tail latency is mostly the daemon waiting for a core; `--priority -10`
// (root only) renices the daemon so it gets one, as it would on a host of its own. The CPU time per
// request, also printed, does not depend on either.
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1] ?? fallback) : fallback);
const lines = option('--lines', 100_000);
const clients = option('--clients', 20);
const seconds = option('--seconds', 15);
const priority = args.includes('--priority') ? option('--priority', 0) : undefined;
const root = path.resolve(import.meta.dirname, '..');
const workDir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-bench-daemon-'));
const reportDir = path.join(workDir, 'reports');
mkdirSync(reportDir, { recursive: true });
writeFileSync(path.join(workDir, 'orchestrate.config.json'), JSON.stringify({ env: 'development', daemon: { port: 0 } }));

const commands = ['upgrade', 'downgrade', 'rollback', 'restore', 'backup'];
const outcomes = ['succeeded', 'succeeded', 'succeeded', 'rolled-back', 'needs-human'];
function ledgerLine(index, at) {
  const finishedAt = new Date(at).toISOString();
  return `${JSON.stringify({
    runId: index.toString(16).padStart(8, '0'),
    command: commands[index % commands.length],
    outcome: outcomes[index % outcomes.length],
    exitCode: index % 5 === 3 ? 6 : index % 5 === 4 ? 7 : 0,
    startedAt: new Date(at - 42_000).toISOString(),
    finishedAt,
    durationMs: 42_000,
    env: 'production',
    database: 'orchestrate@db.internal.example:5432/app_production',
    user: 'deploy',
    host: 'ci-runner-17.internal.example',
    revisionBefore: '20261101_0001_add_orders_status_index',
    revisionAfter: '20261115_0002_backfill_customer_region_codes',
    target: 'head',
    backupId: `20261130T000000Z-${index.toString(16).padStart(6, '0')}`,
    report: `2026-11-30T00-00-00Z-${index.toString(16).padStart(8, '0')}.json`,
  })}\n`;
}

const start = Date.now() - lines * 60_000;
let buffer = '';
for (let index = 0; index < lines; index++) {
  buffer += ledgerLine(index, start + index * 60_000);
  if (buffer.length > 4 << 20) {
    appendFileSync(path.join(reportDir, 'audit.jsonl'), buffer);
    buffer = '';
  }
}
appendFileSync(path.join(reportDir, 'audit.jsonl'), buffer);
const ledgerBytes = statSync(path.join(reportDir, 'audit.jsonl')).size;

const daemon = execa(process.execPath, [path.join(root, 'dist', 'cli.js'), 'daemon'], {
  cwd: workDir,
  env: { DATABASE_URL: 'postgresql://bench@127.0.0.1:1/none' },
  reject: false,
  forceKillAfterDelay: 5_000,
});
const rss = () => {
  const status = readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { rssMb: field('VmRSS'), peakMb: field('VmHWM') };
};

try {
  const startedAt = performance.now();
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    daemon.stderr.on('data', (chunk) => {
      seen += chunk.toString();
      const match = /daemon listening\s+url=(http:\/\/\S+)/.exec(seen);
      if (match) resolve(match[1]);
    });
    void daemon.then(() => reject(new Error(`daemon exited before listening:\n${seen}`)));
    setTimeout(() => reject(new Error('daemon did not start within 60 s')), 60_000).unref();
  });
  const startupMs = performance.now() - startedAt;
  if (priority !== undefined) os.setPriority(daemon.pid, priority);
  const afterStart = rss();

  // CPU time the daemon spends per request: unlike latency, it does not depend on what else the machine runs.
  const cpuMs = () => {
    const fields = readFileSync(`/proc/${daemon.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  };
  const cpuBefore = cpuMs();
  const timings = { '/metrics': [], '/runs': [] };
  const deadline = performance.now() + seconds * 1000;
  let appended = 0;
  const appender = setInterval(() => {
    appendFileSync(path.join(reportDir, 'audit.jsonl'), ledgerLine(lines + appended, Date.now()));
    appended += 1;
  }, 50);
  let peak = afterStart.rssMb;
  const sampler = setInterval(() => (peak = Math.max(peak, rss().rssMb)), 100);
  // node:http with keep-alive, not fetch: the clients share the machine with the daemon, and a
  // lighter client leaves more of it to what is being measured.
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const get = (endpoint) =>
    new Promise((resolve, reject) => {
      const request = http.get(`${url}${endpoint}`, { agent }, (response) => {
        response.resume();
        response.on('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`${endpoint} answered ${response.statusCode}`))));
      });
      request.on('error', reject);
      request.setTimeout(30_000, () => request.destroy(new Error(`${endpoint}: no answer within 30 s`)));
    });
  const clientCpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      // One client in five reads /runs, the rest scrape /metrics.
      const endpoint = client % 5 === 4 ? '/runs' : '/metrics';
      while (performance.now() < deadline) {
        const before = performance.now();
        await get(endpoint);
        timings[endpoint].push(performance.now() - before);
      }
    }),
  );
  const clientCpuMs = (({ user, system }) => (user + system) / 1000)(process.cpuUsage(clientCpu));
  agent.destroy();
  clearInterval(appender);
  clearInterval(sampler);
  const cpuUsed = cpuMs() - cpuBefore;
  const requests = timings['/metrics'].length + timings['/runs'].length;
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const counted = [...metrics.matchAll(/^orchestrate_runs_total\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);

  const percentile = (values, p) => values.sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))] ?? Number.NaN;
  const final = rss();
  console.log(`ledger: ${lines} lines, ${(ledgerBytes / 1e6).toFixed(1)} MB; ${appended} more appended during the run; /metrics counts ${counted} runs`);
  console.log(`daemon start to listening (reads the whole ledger once): ${startupMs.toFixed(0)} ms, RSS ${afterStart.rssMb.toFixed(0)} MB`);
  for (const [endpoint, values] of Object.entries(timings)) {
    if (values.length === 0) continue;
    console.log(`${endpoint}: ${values.length} requests, p50 ${percentile(values, 50).toFixed(1)} ms, p99 ${percentile(values, 99).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms`);
  }
  console.log(`daemon CPU: ${(cpuUsed / requests).toFixed(2)} ms per request (${cpuUsed.toFixed(0)} ms for ${requests}); the clients used ${clientCpuMs.toFixed(0)} ms; machine load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
  if (priority !== undefined) console.log(`daemon reniced to ${priority}`);
  console.log(`daemon RSS: peak sampled ${peak.toFixed(0)} MB, at the end ${final.rssMb.toFixed(0)} MB (VmHWM ${final.peakMb.toFixed(0)} MB), ${clients} clients for ${seconds} s`);
  if (counted !== lines + appended) throw new Error(`/metrics counted ${counted} runs, the ledger holds ${lines + appended}`);
} finally {
  daemon.kill('SIGTERM');
  await daemon;
  rmSync(workDir, { recursive: true, force: true });
}

#!/usr/bin/env node
// Dump (and restore) timings of the backup formats on a generated database of about 200 MB.
//   npm run build && node scripts/bench-backup.mjs [--mb 200] [--repeat 3] [--keep]
// Uses BENCH_DATABASE_URL (a superuser URL; a database "orchestrate_bench" is created there) or,
// without it, a throwaway local cluster. Each variant runs --repeat times, interleaved, and the median
// is reported (a shared machine is noisy). Prints one line per variant and a JSON summary.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createBackup, restoreIntoNewDatabase } from '../dist/backup/index.js';
import { formatBytes } from '../dist/backup/progress.js';
import { loadSettings } from '../dist/config/settings.js';
import { parseDatabaseUrl, withDatabase } from '../dist/db/target.js';
import { startLocalCluster } from '../dist/localpg/cluster.js';
import { silentLogger } from '../dist/log/logger.js';

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || fallback : fallback);
const targetMb = option('--mb', 200);
const repeat = option('--repeat', 3);
const BENCH_DB = 'orchestrate_bench';

const cluster = process.env.BENCH_DATABASE_URL ? undefined : await startLocalCluster();
const adminUrl = process.env.BENCH_DATABASE_URL ?? cluster.url;
const admin = parseDatabaseUrl(adminUrl);
const benchUrl = new URL(adminUrl);
benchUrl.pathname = `/${BENCH_DB}`;

async function sql(url, text) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

const workDir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-bench-'));
try {
  await sql(adminUrl, `DROP DATABASE IF EXISTS ${BENCH_DB} WITH (FORCE)`);
  await sql(adminUrl, `CREATE DATABASE ${BENCH_DB}`);
  // Random text (hex digests compress to about half, much like real text columns) in four tables of
  // equal size: a parallel dump can only split work by table.
  const rows = Math.round((targetMb * 1e6) / 230 / 4);
  const generated = performance.now();
  for (const table of ['events_a', 'events_b', 'events_c', 'events_d']) {
    await sql(benchUrl.toString(), `CREATE TABLE ${table} (id bigint PRIMARY KEY, user_id int, body text, created_at timestamptz);
      INSERT INTO ${table} SELECT i, i % 50000, md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text),
                                  now() - i * interval '1 second' FROM generate_series(1, ${rows}) i;
      CREATE INDEX ${table}_user_idx ON ${table} (user_id);`);
  }
  await sql(benchUrl.toString(), `CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users SELECT i, 'u' || i || '@example.com' FROM generate_series(1, 50000) i; ANALYZE;`);
  const size = Number((await sql(benchUrl.toString(), `SELECT pg_database_size(current_database()) AS s`)).rows[0].s);
  console.log(`database: ${formatBytes(size)} (4 x ${rows} rows, generated in ${((performance.now() - generated) / 1000).toFixed(1)}s)`);

  const base = loadSettings({ flags: { databaseUrl: benchUrl.toString(), backupDir: path.join(workDir, 'backups') }, env: {}, cwd: workDir });
  const variants = [
    { label: 'custom -Z6 (pg_dump default level)', format: 'custom', compressionLevel: 6, jobs: 2 },
    { label: 'custom -Z1 (orchestrate default)', format: 'custom', compressionLevel: 1, jobs: 2 },
    { label: 'directory -j2 -Z1, bundled into a tar', format: 'directory', compressionLevel: 1, jobs: 2 },
  ];
  const timings = variants.map(() => ({ dump: [], restore: [], bytes: 0 }));
  for (let round = 0; round < repeat; round += 1) {
    for (const [index, variant] of variants.entries()) {
      const settings = { ...base, backup: { ...base.backup, format: variant.format, compressionLevel: variant.compressionLevel, jobs: variant.jobs } };
      const context = { settings, logger: silentLogger(), runId: 'bench', applicationName: 'orchestrate/bench' };
      const started = performance.now();
      const manifest = await createBackup(context, base.target, { reason: 'manual', revision: null });
      timings[index].dump.push((performance.now() - started) / 1000);
      const into = withDatabase(admin, `${BENCH_DB}_restored`);
      const { durationMs } = await restoreIntoNewDatabase(context, manifest.id, into);
      timings[index].restore.push(durationMs / 1000);
      timings[index].bytes = manifest.bytes;
      await sql(adminUrl, `DROP DATABASE ${into.database} WITH (FORCE)`);
      rmSync(path.join(settings.backupDir, manifest.archive));
      rmSync(path.join(settings.backupDir, `${manifest.id}.json`));
    }
  }
  const median = (values) => Number([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)].toFixed(1));
  const results = variants.map((variant, index) => ({
    ...variant,
    dumpSeconds: median(timings[index].dump),
    restoreSeconds: median(timings[index].restore),
    dumpRuns: timings[index].dump.map((value) => Number(value.toFixed(1))),
    restoreRuns: timings[index].restore.map((value) => Number(value.toFixed(1))),
    bytes: timings[index].bytes,
  }));
  for (const result of results) {
    console.log(`${result.label.padEnd(40)} dump ${result.dumpSeconds}s  restore -j${result.jobs} ${result.restoreSeconds}s  archive ${formatBytes(result.bytes)}  (medians of ${repeat})`);
  }
  console.log(JSON.stringify({ databaseBytes: size, cpus: os.cpus().length, loadAverage: os.loadavg().map((n) => Number(n.toFixed(1))), results }, null, 2));
} finally {
  if (!args.includes('--keep')) await sql(adminUrl, `DROP DATABASE IF EXISTS ${BENCH_DB} WITH (FORCE)`).catch(() => undefined);
  rmSync(workDir, { recursive: true, force: true });
  await cluster?.stop();
}

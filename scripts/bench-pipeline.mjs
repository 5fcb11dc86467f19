#!/usr/bin/env node
// Where the time of one `orchestrate upgrade` goes on a generated database of about 200 MB:
//   npm run build && node scripts/bench-pipeline.mjs [--mb 200] [--format custom|directory]
// A throwaway local cluster (or BENCH_DATABASE_URL, a superuser URL), a sample Alembic project at
// revision 001, one cheap migration (ADD COLUMN ... DEFAULT, no rewrite), then the real CLI with
// --yes. Prints each step's duration from the run's report, and the total: the overhead the pipeline
// adds over running the migration alone is the backup, the rehearsal's restore and the checks.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { startLocalCluster } from '../dist/localpg/cluster.js';
import { writeMigrations } from '../dist/demo/sampleProject.js';

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] ?? fallback : fallback);
const targetMb = Number(option('--mb', '200'));
const format = option('--format', 'custom');
const root = path.resolve(import.meta.dirname, '..');
const alembic = path.join(root, '.venv', 'bin', 'alembic');

const cluster = process.env.BENCH_DATABASE_URL ? undefined : await startLocalCluster();
const adminUrl = process.env.BENCH_DATABASE_URL ?? cluster.url;
const benchUrl = new URL(adminUrl);
benchUrl.pathname = '/orchestrate_pipeline_bench';
const workDir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-bench-pipeline-'));

async function sql(url, text) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

try {
  await sql(adminUrl, 'DROP DATABASE IF EXISTS orchestrate_pipeline_bench WITH (FORCE)');
  await sql(adminUrl, 'CREATE DATABASE orchestrate_pipeline_bench');
  const appDir = path.join(workDir, 'app');
  const baseline = [{ id: '001_customers', description: 'customers', up: 'CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, note text)', down: 'DROP TABLE customers' }];
  writeMigrations(appDir, 'alembic', baseline, null);
  await execa(alembic, ['upgrade', 'head'], { cwd: appDir, env: { DATABASE_URL: benchUrl.toString() } });
  const rows = Math.round((targetMb * 1e6) / 200);
  const started = performance.now();
  await sql(benchUrl.toString(), `INSERT INTO customers SELECT i, 'c' || i || '@example.com', md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) FROM generate_series(1, ${rows}) i; ANALYZE`);
  const size = Number((await sql(benchUrl.toString(), 'SELECT pg_database_size(current_database()) AS s')).rows[0].s);
  console.log(`database: ${(size / 1e6).toFixed(0)} MB (${rows} rows, generated in ${((performance.now() - started) / 1000).toFixed(1)} s)`);

  writeMigrations(appDir, 'alembic', [...baseline, { id: '002_loyalty', description: 'loyalty', up: 'ALTER TABLE customers ADD COLUMN loyalty integer NOT NULL DEFAULT 0', down: 'ALTER TABLE customers DROP COLUMN loyalty' }], null);
  writeFileSync(path.join(workDir, 'orchestrate.config.json'), JSON.stringify({ env: 'production', migrator: { tool: 'alembic', cwd: 'app', executable: [alembic] }, backup: { format } }));
  const run = await execa(process.execPath, [path.join(root, 'dist', 'cli.js'), 'upgrade', '--yes'], { cwd: workDir, env: { DATABASE_URL: benchUrl.toString() }, reject: false });
  const reportFile = readdirSync(path.join(workDir, 'reports')).find((name) => name.endsWith('.json'));
  const report = JSON.parse(readFileSync(path.join(workDir, 'reports', reportFile), 'utf8'));
  console.log(`upgrade exit ${run.exitCode}, backup format ${format}`);
  for (const step of report.steps) console.log(`  ${step.name.padEnd(10)} ${String(step.durationMs ?? '-').padStart(7)} ms  ${step.detail ?? step.error ?? ''}`);
  console.log(`  total      ${String(report.durationMs).padStart(7)} ms`);
  console.log(JSON.stringify({ sizeBytes: size, format, exitCode: run.exitCode, totalMs: report.durationMs, steps: Object.fromEntries(report.steps.map((step) => [step.name, step.durationMs])) }));
} finally {
  await sql(adminUrl, 'DROP DATABASE IF EXISTS orchestrate_pipeline_bench WITH (FORCE)').catch(() => undefined);
  await cluster?.stop();
  rmSync(workDir, { recursive: true, force: true });
}

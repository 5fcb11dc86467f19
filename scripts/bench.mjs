#!/usr/bin/env node
// The side-by-side benchmark of issue 11: one run times, on the same generated database,
//   - the "seed way": pg_dump -Fc (default compression), createdb + pg_restore into a test copy,
//     alembic upgrade there, alembic upgrade production, validation queries;
//   - the raw floors: pg_dump -Fd -j<cores> and pg_restore -j<cores> of the same database;
//   - `orchestrate upgrade --yes`, step by step, with the CLI process's peak RSS;
//   - a rollback by restore (a downgrade that raises, rollback.restore: auto) against raw
//     pg_restore -j<cores> of the same archive;
//   - `orchestrate upgrade --dry-run` over --revisions pending revisions;
// and with --pgbench, TPS of pgbench writes before, during (outside the migration's lock window) and
// after an upgrade, for the default settings and each lever (backup.jobs 1, scratch copy on another server).
//
// With --levers, `upgrade --yes` again with each setting worth measuring (backup.format directory,
// tools.pgBinDir set so that Debian's pg_wrapper is not started before every pg_dump/pg_restore).
//
// --repeat N runs the seed way and the upgrade N times, interleaved, and shows the median round.
//
//   npm run build && npm run bench -- [--size-mb 1000] [--repeat 1] [--revisions 40] [--levers] [--pgbench] [--out reports/bench]
//
// A throwaway local cluster (or BENCH_DATABASE_URL, a superuser URL: databases bench_<random>_* are
// created there and dropped). Prints one table and writes bench.json and bench.md into --out.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { findServerBinDir, startLocalCluster } from '../dist/localpg/cluster.js';
import { writeMigrations } from '../dist/demo/sampleProject.js';

const args = process.argv.slice(2);
function option(name, fallback) {
  const index = args.indexOf(name);
  if (index === -1) return fallback;
  const value = args[index + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
  return value;
}
const sizeMb = Number(option('--size-mb', '1000'));
const revisionCount = Number(option('--revisions', '40'));
const withPgbench = args.includes('--pgbench');
const withLevers = args.includes('--levers');
const repeat = Number(option('--repeat', '1'));
const pgbenchSeconds = Number(option('--pgbench-seconds', '10'));
const root = path.resolve(import.meta.dirname, '..');
const outDir = path.resolve(option('--out', path.join(root, 'reports', 'bench')));
if (!(sizeMb > 0) || !(revisionCount >= 1) || !(repeat >= 1)) throw new Error('--size-mb must be > 0, --revisions and --repeat >= 1');

const cores = os.cpus().length;
const alembic = path.join(root, '.venv', 'bin', 'alembic');
const cli = path.join(root, 'dist', 'cli.js');
const binDir = findServerBinDir();
const pgBin = (name) => (binDir ? path.join(binDir, name) : name);
const tag = `bench_${randomBytes(3).toString('hex')}`;
const PROD = `${tag}_prod`;

const log = (line) => process.stderr.write(`[bench] ${line}\n`);
const seconds = (ms) => Number((ms / 1000).toFixed(2));

// ---- connections and tools -------------------------------------------------------------------

function urlFor(base, database) {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

/** libpq environment for a database: the password never goes into argv. */
function libpq(base, database) {
  const url = new URL(base);
  return {
    PGHOST: url.hostname,
    PGPORT: url.port || '5432',
    PGUSER: decodeURIComponent(url.username),
    PGPASSWORD: decodeURIComponent(url.password),
    PGDATABASE: database,
  };
}

async function sql(url, text, values) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

async function run(program, argv, options = {}) {
  return execa(program, argv, { stdin: 'ignore', ...options });
}

async function timed(work) {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

const cleanups = [];
function onCleanup(work) {
  cleanups.push(work);
}

// ---- the database ----------------------------------------------------------------------------

/** Bytes on disk per generated order, with its customer share, items, indexes and TOAST, and of an empty database (measured on PostgreSQL 15). */
const BYTES_PER_ORDER = 705;
const EMPTY_DATABASE_BYTES = 7.5e6;

async function buildDatabase(adminUrl) {
  const orders = Math.max(1000, Math.round((sizeMb * 1e6 - EMPTY_DATABASE_BYTES) / BYTES_PER_ORDER));
  const customers = Math.max(100, Math.round(orders / 4));
  const items = orders * 2;
  await sql(adminUrl, `CREATE DATABASE ${PROD}`);
  onCleanup(() => sql(adminUrl, `DROP DATABASE IF EXISTS ${PROD} WITH (FORCE)`));
  const url = urlFor(adminUrl, PROD);
  // Normal (logged) tables: constraints and indexes are built after the load, as a restore does.
  const statements = [
    `CREATE TABLE customers (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, email text NOT NULL, name text NOT NULL, profile jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE TABLE orders (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL, status text NOT NULL, total_cents integer NOT NULL, details jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE TABLE order_items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, order_id bigint NOT NULL, sku text NOT NULL, quantity integer NOT NULL, note text)`,
    `INSERT INTO customers (id, email, name, profile)
       SELECT i, 'customer' || i || '@example.com', 'Customer ' || md5(i::text),
              jsonb_build_object('tier', i % 5, 'tags', jsonb_build_array('t' || (i % 17), 't' || (i % 31)), 'bio', md5(random()::text) || md5(random()::text))
       FROM generate_series(1, ${customers}) i`,
    `INSERT INTO orders (id, customer_id, status, total_cents, details, created_at)
       SELECT i, 1 + (i % ${customers}), (ARRAY['new','paid','shipped','done'])[1 + i % 4], (i * 37) % 100000,
              jsonb_build_object('channel', (ARRAY['web','app','phone'])[1 + i % 3], 'coupon', CASE WHEN i % 7 = 0 THEN md5(i::text) END,
                                 'address', md5(random()::text) || ' ' || md5(random()::text) || ' ' || md5(random()::text)),
              now() - (i % 100000) * interval '1 minute'
       FROM generate_series(1, ${orders}) i`,
    `INSERT INTO order_items (id, order_id, sku, quantity, note)
       SELECT i, 1 + (i % ${orders}), 'SKU-' || (i % 5000), 1 + i % 9, md5(random()::text) || md5(random()::text)
       FROM generate_series(1, ${items}) i`,
    `SELECT setval(pg_get_serial_sequence('customers', 'id'), ${customers}), setval(pg_get_serial_sequence('orders', 'id'), ${orders}), setval(pg_get_serial_sequence('order_items', 'id'), ${items})`,
    `CREATE UNIQUE INDEX customers_email_key ON customers (email)`,
    `CREATE INDEX orders_customer_idx ON orders (customer_id)`,
    `CREATE INDEX orders_created_idx ON orders (created_at)`,
    `CREATE INDEX order_items_order_idx ON order_items (order_id)`,
    `ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)`,
    `ALTER TABLE order_items ADD CONSTRAINT order_items_order_fk FOREIGN KEY (order_id) REFERENCES orders (id)`,
    `VACUUM ANALYZE`,
  ];
  for (const statement of statements) await sql(url, statement);
  const bytes = Number((await sql(url, 'SELECT pg_database_size(current_database()) AS s')).rows[0].s);
  return { url, bytes, rows: { customers, orders, order_items: items } };
}

// ---- the Alembic projects --------------------------------------------------------------------

const BASELINE = { id: '001_baseline', description: 'the generated schema (stamped, never run)', up: 'SELECT 1', down: 'SELECT 1' };
const CHEAP = { id: '002_nickname', description: 'a cheap revision: nullable column', up: 'ALTER TABLE customers ADD COLUMN nickname text', down: 'ALTER TABLE customers DROP COLUMN nickname' };

function projects(workDir) {
  const main = path.join(workDir, 'app-main');
  writeMigrations(main, 'alembic', [BASELINE, CHEAP], null);
  // Two more revisions: the second fails in production only (the scratch copy has another name), and
  // the first's downgrade raises, so the rollback has to restore from the backup.
  const rollback = path.join(workDir, 'app-rollback');
  writeMigrations(rollback, 'alembic', [
    BASELINE,
    CHEAP,
    { id: '003_audit_column', description: 'add a column; its downgrade raises', up: 'ALTER TABLE orders ADD COLUMN audited_at timestamptz', down: "DO $$ BEGIN RAISE EXCEPTION 'bench: this downgrade fails on purpose'; END $$" },
    { id: '004_fails_in_production', description: 'fails on production only', up: `DO $$ BEGIN IF current_database() = '${PROD}' THEN RAISE EXCEPTION 'bench: fails in production on purpose'; END IF; END $$`, down: 'SELECT 1' },
  ], null);
  const dryRun = path.join(workDir, 'app-dry-run');
  const many = Array.from({ length: revisionCount }, (_, index) => {
    const n = String(index + 3).padStart(3, '0');
    return { id: `${n}_extra_${n}`, description: `extra column ${n}`, up: `ALTER TABLE customers ADD COLUMN extra_${n} integer`, down: `ALTER TABLE customers DROP COLUMN extra_${n}` };
  });
  writeMigrations(dryRun, 'alembic', [BASELINE, CHEAP, ...many], null);
  return { main, rollback, dryRun };
}

function alembicIn(appDir, url) {
  return (...argv) => run(alembic, argv, { cwd: appDir, env: { DATABASE_URL: url } });
}

// ---- the orchestrate CLI, with its peak RSS ----------------------------------------------------

/** VmHWM of a live process in MB, or undefined once it is gone (Linux only). */
function highWaterMb(pid) {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Runs the CLI in `runDir` (its own config, backups and reports) and samples its peak RSS every 50 ms. */
async function orchestrate(runDir, argv, databaseUrl) {
  const started = performance.now();
  const child = spawn(process.execPath, [cli, ...argv], { cwd: runDir, env: { ...process.env, DATABASE_URL: databaseUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout = (stdout + chunk).slice(-200_000)));
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-200_000)));
  let peakMb = 0;
  const sampler = setInterval(() => (peakMb = Math.max(peakMb, highWaterMb(child.pid) ?? 0)), 50);
  const exitCode = await new Promise((resolve) => child.on('close', (code) => resolve(code)));
  clearInterval(sampler);
  const ms = performance.now() - started;
  const reportDir = path.join(runDir, 'reports');
  // A dry run writes no report.
  const reports = (existsSync(reportDir) ? readdirSync(reportDir, { withFileTypes: true }) : []).filter((entry) => entry.isFile() && /^\d.*\.json$/.test(entry.name)).map((entry) => entry.name).sort();
  const report = reports.length > 0 ? JSON.parse(readFileSync(path.join(reportDir, reports.at(-1)), 'utf8')) : undefined;
  return { exitCode, ms, peakRssMb: peakMb > 0 ? Number(peakMb.toFixed(1)) : null, stdout, stderr, report };
}

function runDirectory(workDir, label, appDir, extra = {}) {
  const dir = path.join(workDir, `run-${label}`);
  mkdirSync(dir, { recursive: true });
  const config = {
    env: 'production',
    migrator: { tool: 'alembic', cwd: appDir, executable: [alembic] },
    rollback: { restore: 'auto' },
    ...extra,
  };
  writeFileSync(path.join(dir, 'orchestrate.config.json'), JSON.stringify(config, null, 2));
  return dir;
}

function stepTimes(report) {
  return Object.fromEntries((report?.steps ?? []).filter((step) => step.durationMs !== undefined).map((step) => [step.name, seconds(step.durationMs)]));
}

function mustSucceed(label, result, expected = 0) {
  if (result.exitCode !== expected) {
    throw new Error(`${label}: exit ${result.exitCode}, expected ${expected}\n${result.stderr.split('\n').slice(-15).join('\n')}`);
  }
}

// ---- the measurements ------------------------------------------------------------------------

async function seedWay(adminUrl, workDir, app) {
  const copy = `${tag}_seedcopy`;
  const dump = path.join(workDir, 'seed.dump');
  const env = libpq(adminUrl, PROD);
  const steps = {};
  const step = async (name, work) => {
    const { ms } = await timed(work);
    steps[name] = seconds(ms);
  };
  const { ms } = await timed(async () => {
    await step('pg_dump -Fc', () => run(pgBin('pg_dump'), ['-Fc', '-f', dump], { env }));
    await step('createdb', () => run(pgBin('createdb'), [copy], { env }));
    await step('pg_restore', () => run(pgBin('pg_restore'), ['--no-owner', '--exit-on-error', '-d', copy, dump], { env }));
    await step('alembic upgrade (copy)', () => alembicIn(app, urlFor(adminUrl, copy))('upgrade', 'head'));
    await step('alembic upgrade (production)', () => alembicIn(app, urlFor(adminUrl, PROD))('upgrade', 'head'));
    await step('validation queries', () =>
      run(pgBin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', "SELECT count(*) FROM customers; SELECT count(*) FROM orders; SELECT count(*) FROM order_items; SELECT 1/count(*) FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'nickname'"], { env }),
    );
  });
  const archiveBytes = readFileSync(dump).length;
  rmSync(dump);
  await sql(adminUrl, `DROP DATABASE ${copy} WITH (FORCE)`);
  await alembicIn(app, urlFor(adminUrl, PROD))('downgrade', BASELINE.id);
  return { seconds: seconds(ms), steps, archiveBytes };
}

async function rawFloors(adminUrl, workDir) {
  const dir = path.join(workDir, 'floor.d');
  const copy = `${tag}_floorcopy`;
  const env = libpq(adminUrl, PROD);
  const dumpRun = await timed(() => run(pgBin('pg_dump'), ['-Fd', `-j${cores}`, '-f', dir], { env }));
  await run(pgBin('createdb'), [copy], { env });
  const restoreRun = await timed(() => run(pgBin('pg_restore'), ['--no-owner', '--exit-on-error', `-j${cores}`, '-d', copy, dir], { env }));
  rmSync(dir, { recursive: true, force: true });
  await sql(adminUrl, `DROP DATABASE ${copy} WITH (FORCE)`);
  return { dumpSeconds: seconds(dumpRun.ms), restoreSeconds: seconds(restoreRun.ms) };
}

function summariseUpgrade(result) {
  const steps = stepTimes(result.report);
  const rehearsal = result.report?.details?.rehearsal;
  const restoreSeconds = rehearsal?.restoreMs !== undefined ? seconds(rehearsal.restoreMs) : 0;
  // What a run costs besides copying the data: the dump and the rehearsal's restore are the floors' work.
  const fixedSeconds = Number((seconds(result.ms) - (steps.backup ?? 0) - restoreSeconds).toFixed(2));
  return { seconds: seconds(result.ms), exitCode: result.exitCode, peakRssMb: result.peakRssMb, steps, rehearsalRestoreSeconds: restoreSeconds, fixedSeconds };
}

async function rollbackByRestore(adminUrl, workDir, app) {
  const runDir = runDirectory(workDir, 'rollback', app);
  const result = await orchestrate(runDir, ['upgrade', '--yes'], urlFor(adminUrl, PROD));
  // 6: rolled back and verified.
  mustSucceed('rollback run', result, 6);
  const undo = result.report.steps.find((step) => step.name === 'undo migrate');
  const rollback = result.report.details.rollback;
  if (rollback?.path !== 'restore') throw new Error(`rollback run: expected a rollback by restore, got ${rollback?.path}`);
  if (rollback.keptFailedDatabase) await sql(adminUrl, `DROP DATABASE IF EXISTS ${rollback.keptFailedDatabase} WITH (FORCE)`);

  // The same archive, restored by hand the fastest way pg_restore knows.
  const backupDir = path.join(runDir, 'backups');
  const manifest = JSON.parse(readFileSync(path.join(backupDir, `${result.report.details.backup.id}.json`), 'utf8'));
  const copy = `${tag}_rawrestore`;
  const env = libpq(adminUrl, PROD);
  let archive = path.join(backupDir, manifest.archive);
  if (manifest.format === 'directory') {
    const extracted = path.join(workDir, 'raw-restore.d');
    mkdirSync(extracted);
    await run('tar', ['-xf', archive, '-C', extracted]);
    archive = extracted;
  }
  // The separate read-back a rehearsing run no longer makes (its restore reads the archive whole).
  const readBack = await timed(() => run(pgBin('pg_restore'), ['--file=/dev/null', archive]));
  await run(pgBin('createdb'), [copy], { env });
  const raw = await timed(() => run(pgBin('pg_restore'), ['--no-owner', '--no-acl', '--exit-on-error', `-j${cores}`, '-d', copy, archive], { env }));
  await sql(adminUrl, `DROP DATABASE ${copy} WITH (FORCE)`);
  rmSync(path.join(workDir, 'raw-restore.d'), { recursive: true, force: true });
  rmSync(backupDir, { recursive: true, force: true });
  return {
    runSeconds: seconds(result.ms),
    exitCode: result.exitCode,
    peakRssMb: result.peakRssMb,
    undoSeconds: seconds(undo?.durationMs ?? 0),
    rawRestoreSeconds: seconds(raw.ms),
    readBackSeconds: seconds(readBack.ms),
    archiveBytes: manifest.bytes,
    format: manifest.format,
    // Where the undo's time went, as the run report tells it.
    attempts: rollback.attempts,
    restoreCopy: rollback.restoreCopy,
  };
}

// ---- levers ----------------------------------------------------------------------------------

async function leverRuns(adminUrl, workDir, app, databaseUrl) {
  const levers = [
    { label: `backup.format directory (pg_dump -Fd -j${cores})`, config: { backup: { format: 'directory', jobs: cores } } },
    // No compression: pg_dump spends its CPU on gzip even at level 1; the archive is about twice as large.
    { label: 'backup.compressionLevel 0', config: { backup: { compressionLevel: 0 } } },
    ...(binDir ? [{ label: `tools.pgBinDir ${binDir} (no pg_wrapper)`, config: { tools: { pgBinDir: binDir } } }] : []),
  ];
  const results = [];
  for (const [index, lever] of levers.entries()) {
    await alembicIn(app, databaseUrl)('downgrade', BASELINE.id);
    log(`lever: ${lever.label}`);
    const runDir = runDirectory(workDir, `lever-${index}`, app, lever.config);
    const result = await orchestrate(runDir, ['upgrade', '--yes'], databaseUrl);
    mustSucceed(`upgrade with ${lever.label}`, result);
    rmSync(path.join(runDir, 'backups'), { recursive: true, force: true });
    results.push({ label: lever.label, ...summariseUpgrade(result) });
  }
  return results;
}

// ---- pgbench ---------------------------------------------------------------------------------

function pgbenchScript(workDir, rows) {
  const file = path.join(workDir, 'writes.pgbench');
  writeFileSync(
    file,
    [
      `\\set oid random(1, ${rows.orders})`,
      `\\set cid random(1, ${rows.customers})`,
      'BEGIN;',
      `UPDATE orders SET status = 'shipped', total_cents = total_cents + 1 WHERE id = :oid;`,
      `INSERT INTO order_items (order_id, sku, quantity, note) VALUES (:oid, 'SKU-bench', 1, 'pgbench');`,
      'SELECT email FROM customers WHERE id = :cid;',
      'END;',
      '',
    ].join('\n'),
  );
  return file;
}

/** `progress: 1733012345.123 s, 2080.0 tps, ...` lines (pgbench --progress-timestamp) as [epoch ms, tps]. */
function progressLines(text) {
  return [...text.matchAll(/progress: ([\d.]+) s, ([\d.]+) tps/g)].map((match) => [Number(match[1]) * 1000, Number(match[2])]);
}

const mean = (values) => (values.length === 0 ? null : Number((values.reduce((a, b) => a + b, 0) / values.length).toFixed(0)));

async function upgradeUnderLoad(adminUrl, workDir, app, label, rows, extraConfig) {
  const runDir = runDirectory(workDir, `pgbench-${label}`, app, extraConfig);
  const env = { ...process.env, ...libpq(adminUrl, PROD) };
  const bench = spawn(pgBin('pgbench'), ['-n', '-c', '4', '-j', '2', '-T', '3600', '-P', '1', '--progress-timestamp', '-f', pgbenchScript(workDir, rows)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let progress = '';
  bench.stderr.on('data', (chunk) => (progress += chunk));
  const closed = new Promise((resolve) => bench.on('close', resolve));
  try {
    await new Promise((resolve) => setTimeout(resolve, (pgbenchSeconds + 1) * 1000));
    const upgradeStarted = Date.now();
    const result = await orchestrate(runDir, ['upgrade', '--yes'], urlFor(adminUrl, PROD));
    const upgradeFinished = Date.now();
    mustSucceed(`upgrade under pgbench (${label})`, result);
    await new Promise((resolve) => setTimeout(resolve, pgbenchSeconds * 1000));
    bench.kill('SIGINT');
    await closed;
    const migrate = result.report.steps.find((step) => step.name === 'migrate');
    // The migration's own lock window, widened by a second each side (progress lines cover a second).
    const lockFrom = Date.parse(migrate.startedAt) - 1000;
    const lockTo = Date.parse(migrate.finishedAt) + 1000;
    const samples = progressLines(progress).slice(1);
    const before = samples.filter(([at]) => at < upgradeStarted).map(([, tps]) => tps);
    const during = samples.filter(([at]) => at >= upgradeStarted + 1000 && at <= upgradeFinished && (at < lockFrom || at > lockTo)).map(([, tps]) => tps);
    const after = samples.filter(([at]) => at > upgradeFinished + 1000).map(([, tps]) => tps);
    const beforeTps = mean(before);
    const duringTps = mean(during);
    return {
      label,
      upgradeSeconds: seconds(result.ms),
      steps: stepTimes(result.report),
      beforeTps,
      duringTps,
      worstSecondTps: during.length > 0 ? Math.min(...during) : null,
      afterTps: mean(after),
      keptShare: beforeTps && duringTps !== null ? Number((duringTps / beforeTps).toFixed(2)) : null,
    };
  } finally {
    bench.kill('SIGKILL');
    await alembicIn(app, urlFor(adminUrl, PROD))('downgrade', BASELINE.id).catch(() => undefined);
    rmSync(path.join(runDir, 'backups'), { recursive: true, force: true });
  }
}

async function pgbenchMode(adminUrl, workDir, app, rows) {
  const levers = [
    { label: 'default', config: {} },
    { label: 'backup.jobs 1', config: { backup: { jobs: 1 } } },
    // pg_dump and the rehearsal's pg_restore at the lowest CPU and I/O priority (off by default).
    { label: 'backup.niceness 19, ioPriority idle', config: { backup: { niceness: 19, ioPriority: 'idle' } } },
    { label: 'backup.jobs 1, niceness 19, ioPriority idle', config: { backup: { jobs: 1, niceness: 19, ioPriority: 'idle' } } },
  ];
  // The scratch copy on another server: a second throwaway cluster (only when we made the first).
  let scratchCluster;
  if (!process.env.BENCH_DATABASE_URL) {
    scratchCluster = await startLocalCluster();
    onCleanup(() => scratchCluster.stop());
    levers.push({ label: 'rehearsal.scratchUrl (other server)', config: { rehearsal: { scratchUrl: scratchCluster.url } } });
  }
  const results = [];
  for (const lever of levers) {
    log(`pgbench: upgrade under load, ${lever.label}`);
    results.push(await upgradeUnderLoad(adminUrl, workDir, app, lever.label, rows, lever.config));
  }
  return results;
}

// ---- the table -------------------------------------------------------------------------------

function verdict(value, limit) {
  if (value === null || value === undefined) return 'n/a';
  return value <= limit ? 'met' : 'not met';
}

function render(result) {
  const { database, seed, floors, upgrade, roundRatios, rollback, dryRun, levers, pgbench } = result;
  const ratio = (a, b) => (b > 0 ? Number((a / b).toFixed(2)) : null);
  const mb = database.bytes / 1e6;
  const upgradeTarget = mb >= 500 ? 0.5 : mb <= 60 ? 1.3 : null;
  const rows = [
    ['seed way (pg_dump -Fc; createdb + pg_restore; alembic upgrade copy, production; queries)', seed.seconds, 1, '', Object.entries(seed.steps).map(([k, v]) => `${k} ${v}`).join(', ')],
    [`raw floor: pg_dump -Fd -j${cores}`, floors.dumpSeconds, ratio(floors.dumpSeconds, seed.seconds), '', ''],
    [`raw floor: pg_restore -j${cores}`, floors.restoreSeconds, ratio(floors.restoreSeconds, seed.seconds), '', ''],
    [
      '`orchestrate upgrade --yes`',
      upgrade.seconds,
      ratio(upgrade.seconds, seed.seconds),
      upgradeTarget === null ? '' : `<= ${upgradeTarget} x seed: ${verdict(ratio(upgrade.seconds, seed.seconds), upgradeTarget)}`,
      Object.entries(upgrade.steps).map(([k, v]) => `${k} ${v}`).join(', '),
    ],
    ...(roundRatios.length > 1 ? [[`upgrade / seed way in ${roundRatios.length} interleaved rounds (the row above is the median)`, '', roundRatios.join(', '), '', '']] : []),
    ['fixed cost of the run (total - dump - rehearsal restore)', upgrade.fixedSeconds, null, mb <= 60 ? `< 1.5 s: ${verdict(upgrade.fixedSeconds, 1.5)}` : '', `rehearsal restore ${upgrade.rehearsalRestoreSeconds}`],
    ['rollback by restore (the undo step)', rollback.undoSeconds, ratio(rollback.undoSeconds, rollback.rawRestoreSeconds), `<= 1.0 x raw restore: ${verdict(ratio(rollback.undoSeconds, rollback.rawRestoreSeconds), 1.0)}`, `whole failing run ${rollback.runSeconds} s, exit ${rollback.exitCode}`],
    [`raw pg_restore -j${cores} of the same archive`, rollback.rawRestoreSeconds, 1, '', `${rollback.format}, ${(rollback.archiveBytes / 1e6).toFixed(1)} MB`],
    ['read-back of that archive (pg_restore -f /dev/null)', rollback.readBackSeconds, null, '', 'no longer made by a rehearsing run: its restore reads the archive whole'],
    [`\`upgrade --dry-run\` over ${dryRun.revisions} revisions`, dryRun.seconds, null, dryRun.revisions >= 40 ? `< 5 s: ${verdict(dryRun.seconds, 5)}` : '', `exit ${dryRun.exitCode}`],
    ['peak RSS, MB: upgrade / rollback / dry run', Math.max(upgrade.peakRssMb ?? 0, rollback.peakRssMb ?? 0, dryRun.peakRssMb ?? 0), null, `<= 120 MB: ${verdict(Math.max(upgrade.peakRssMb ?? 0, rollback.peakRssMb ?? 0, dryRun.peakRssMb ?? 0), 120)}`, `${upgrade.peakRssMb} / ${rollback.peakRssMb} / ${dryRun.peakRssMb}`],
  ];
  const lines = [
    `Database ${(database.bytes / 1e6).toFixed(0)} MB (${Object.entries(database.rows).map(([k, v]) => `${k} ${v}`).join(', ')}), built in ${database.buildSeconds} s.`,
    `Machine: ${result.machine.cpus} cores (${result.machine.cpuModel}), ${result.machine.memoryGb} GB RAM, PostgreSQL ${result.machine.serverVersion}; load average ${result.machine.loadBefore.join(' ')} before, ${result.machine.loadAfter.join(' ')} after.`,
    '',
    '| measurement | seconds | ratio | target | detail |',
    '|---|---|---|---|---|',
    ...rows.map(([name, value, r, target, detail]) => `| ${name} | ${value} | ${r ?? ''} | ${target} | ${detail} |`),
  ];
  if (levers) {
    lines.push('', '| `upgrade --yes` with a lever | seconds | ratio to seed way | steps |', '|---|---|---|---|');
    for (const l of levers) lines.push(`| ${l.label} | ${l.seconds} | ${ratio(l.seconds, seed.seconds)} | ${Object.entries(l.steps).map(([k, v]) => `${k} ${v}`).join(', ')}; fixed ${l.fixedSeconds} |`);
  }
  if (pgbench) {
    lines.push('', '| pgbench writes (4 clients) | TPS before | during (outside the lock window) | kept | worst second | after | upgrade s |', '|---|---|---|---|---|---|---|');
    for (const p of pgbench) lines.push(`| ${p.label} | ${p.beforeTps} | ${p.duringTps} | ${p.keptShare ?? ''} (>= 0.85: ${verdict(p.keptShare === null ? null : -p.keptShare, -0.85)}) | ${p.worstSecondTps} | ${p.afterTps} | ${p.upgradeSeconds} |`);
  }
  return `${lines.join('\n')}\n`;
}

// ---- main ------------------------------------------------------------------------------------

const workDir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-bench-'));
onCleanup(() => rmSync(workDir, { recursive: true, force: true }));
let exitCode = 0;
try {
  const cluster = process.env.BENCH_DATABASE_URL ? undefined : await startLocalCluster();
  if (cluster) onCleanup(() => cluster.stop());
  const adminUrl = process.env.BENCH_DATABASE_URL ?? cluster.url;
  const loadBefore = os.loadavg().map((n) => Number(n.toFixed(2)));

  log(`building a database of about ${sizeMb} MB`);
  const built = await timed(() => buildDatabase(adminUrl));
  const database = { ...built.value, buildSeconds: seconds(built.ms) };
  const app = projects(workDir);
  await alembicIn(app.main, database.url)('stamp', BASELINE.id);

  // Seed way and upgrade, interleaved --repeat times on a noisy machine: the table shows the round
  // whose ratio is the median, and every round's ratio.
  const rounds = [];
  for (let round = 0; round < repeat; round += 1) {
    if (round > 0) await alembicIn(app.main, database.url)('downgrade', BASELINE.id);
    log(`seed way${repeat > 1 ? ` (round ${round + 1} of ${repeat})` : ''}`);
    const seedRound = await seedWay(adminUrl, workDir, app.main);
    log('orchestrate upgrade --yes');
    const upgradeRun = await orchestrate(runDirectory(workDir, `upgrade-${round}`, app.main), ['upgrade', '--yes'], database.url);
    mustSucceed('upgrade', upgradeRun);
    rmSync(path.join(workDir, `run-upgrade-${round}`, 'backups'), { recursive: true, force: true });
    const upgradeRound = summariseUpgrade(upgradeRun);
    rounds.push({ seed: seedRound, upgrade: upgradeRound, ratio: Number((upgradeRound.seconds / seedRound.seconds).toFixed(2)) });
  }
  const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor((rounds.length - 1) / 2)];
  const { seed, upgrade } = median;
  const roundRatios = rounds.map((round) => round.ratio);
  log('raw floors');
  const floors = await rawFloors(adminUrl, workDir);
  log(`orchestrate upgrade --dry-run over ${revisionCount} revisions`);
  const dryRunRun = await orchestrate(runDirectory(workDir, 'dry-run', app.dryRun), ['upgrade', '--dry-run'], database.url);
  mustSucceed('dry run', dryRunRun);
  const dryRun = { revisions: revisionCount, seconds: seconds(dryRunRun.ms), exitCode: dryRunRun.exitCode, peakRssMb: dryRunRun.peakRssMb };
  log('rollback by restore');
  const rollback = await rollbackByRestore(adminUrl, workDir, app.rollback);

  const levers = withLevers ? await leverRuns(adminUrl, workDir, app.main, database.url) : undefined;

  let pgbench;
  if (withPgbench) {
    await alembicIn(app.main, database.url)('downgrade', BASELINE.id);
    pgbench = await pgbenchMode(adminUrl, workDir, app.main, database.rows);
  }

  const serverVersion = (await sql(adminUrl, 'SHOW server_version')).rows[0].server_version;
  const result = {
    createdAt: new Date().toISOString(),
    machine: {
      cpus: cores,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGb: Number((os.totalmem() / 1e9).toFixed(1)),
      serverVersion,
      loadBefore,
      loadAfter: os.loadavg().map((n) => Number(n.toFixed(2))),
    },
    database: { bytes: database.bytes, rows: database.rows, buildSeconds: database.buildSeconds },
    seed,
    floors,
    upgrade,
    roundRatios,
    rollback,
    dryRun,
    ...(levers ? { levers } : {}),
    ...(pgbench ? { pgbench } : {}),
  };
  const markdown = render(result);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'bench.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(path.join(outDir, 'bench.md'), markdown);
  process.stdout.write(markdown);
  log(`written ${path.join(outDir, 'bench.json')} and bench.md`);
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  exitCode = 1;
} finally {
  for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch((error) => log(`cleanup: ${error.message}`));
}
process.exitCode = exitCode;

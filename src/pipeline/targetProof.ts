import { setTimeout as sleep } from 'node:timers/promises';
import { dropDatabase } from '../backup/databases.js';
import type { Settings } from '../config/settings.js';
import type pg from 'pg';
import { connect, quoteIdent, withClient } from '../db/client.js';
import { pollOnClient, pollOnOwnConnection } from '../db/poller.js';
import { serverApplicationName } from '../db/sessions.js';
import { describeTarget, parseDatabaseUrl, sameServer, withDatabase, type DbTarget } from '../db/target.js';
import { RefusedError, errorMessage } from '../errors.js';
import { alembicCurrent } from '../exec/alembic.js';
import { runTemplate } from '../exec/commandTemplate.js';
import { lastLines, type ProgramRun } from '../exec/process.js';
import type { ToolSession } from '../migrators/types.js';
import { splitTableName } from '../validation/checks.js';
import { scratchDatabaseName } from './rehearsal.js';
import type { StepResult } from './runner.js';
import type { MigrationRunState } from './state.js';

/**
 * Proof that the migration tool connects to the database orchestrate hands it, before any migration
 * runs. A real env.py often builds its URL from the application's own settings (another variable,
 * alembic.ini, a settings object) and ignores migrator.urlEnv: the "rehearsal" would then migrate
 * production, and the production run whatever env.py names.
 *
 * The proof database is a new, empty database of our own (`<db>_proof_<run id>`) on the server of the
 * scratch copies. Its version table is a view that answers with the session's own identity:
 * `current_database() | application_name | lock_timeout in ms`. The tool's read-only `current` is run with
 * the proof database's URL in urlEnv; only a session in the proof database can read that unique name,
 * so finding it in the tool's output proves where the tool connected, whatever its driver, with no
 * timing involved (sampling pg_stat_activity could miss a 20 ms session, and asyncpg does not even set
 * the application_name). Nothing is written anywhere else; the proof database is dropped afterwards.
 */

export interface TargetProofRequest {
  readonly migrator: Settings['migrator'];
  /** The server the proof database is created on (connected as the run's role, which needs CREATEDB). */
  readonly server: DbTarget;
  /** The database the run targets: names the proof database and is watched for a stray session. */
  readonly target: DbTarget;
  readonly runId: string;
  /** application_name of this run's tool sessions; the proof's tool run gets `<it>/proof`. */
  readonly applicationName: string;
  readonly inspectName: string;
  readonly lockTimeoutMs: number;
  readonly timeoutMs: number;
  readonly cancelSignal?: AbortSignal;
}

export interface TargetProof {
  /** What was proven, for the journal and the report. */
  readonly detail: string;
  /** Proven connected, but without orchestrate's application_name or lock_timeout. */
  readonly warnings: readonly string[];
}

/**
 * The server the proof database is created on, with the connection that creates the database, watches
 * for the tool's sessions (alembic) and drops it: the watch keeps it busy. The command adapter's session
 * counts stay on connections of their own: this one sits idle while the command runs.
 */
interface ProofServer {
  readonly target: DbTarget;
  readonly client: pg.Client;
}

/** A backend publishes its session count as it exits, a moment after the client has gone: wait this long for it. */
const SESSION_COUNT_WAIT_MS = 3000;
const WATCH_INTERVAL_MS = 5;

function fixHint(urlEnv: string): string {
  return `make env.py read the URL from ${urlEnv} (README: "env.py patterns"), or set migrator.urlEnv to the variable it reads`;
}

/**
 * Where the tool's sessions (by application_name) show up on the watched servers while it runs. Only
 * for the message when the proof fails: a session shorter than the interval, or one without our
 * application_name (asyncpg ignores PGAPPNAME), is not seen, so this never decides anything.
 */
function watchSessions(proofServer: ProofServer, otherServers: readonly DbTarget[], toolName: string, inspectName: string): { stop(): Promise<string[]> } {
  const seen = new Set<string>();
  const tag = serverApplicationName(toolName);
  const sampleOf = (server: DbTarget) => async (client: pg.Client) => {
    const result = await client.query<{ datname: string }>('SELECT datname FROM pg_catalog.pg_stat_activity WHERE application_name = $1 AND datname IS NOT NULL', [tag]);
    for (const row of result.rows) seen.add(`${row.datname} on ${server.host}:${server.port}`);
  };
  const pollers = [
    pollOnClient(proofServer.client, WATCH_INTERVAL_MS, sampleOf(proofServer.target)),
    ...otherServers.map((server) => pollOnOwnConnection(server, inspectName, WATCH_INTERVAL_MS, sampleOf(server))),
  ];
  return {
    async stop() {
      await Promise.allSettled(pollers.map((poller) => poller.stop()));
      return [...seen];
    },
  };
}

/** Sessions ever established to `database` (PostgreSQL 14+; undefined before). Client backends only. */
async function sessionsEstablished(server: DbTarget, database: string, inspectName: string): Promise<number | undefined> {
  return withClient(server, inspectName, async (client) => {
    const version = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    if (Number(version.rows[0]?.v) < 140000) return undefined;
    await client.query('SELECT pg_catalog.pg_stat_clear_snapshot()');
    const result = await client.query<{ sessions: string }>('SELECT sessions FROM pg_catalog.pg_stat_database WHERE datname = $1', [database]);
    return Number(result.rows[0]?.sessions ?? 0);
  });
}

interface Identity {
  readonly applicationName: string;
  readonly lockTimeoutMs: string;
}

/** The identity line the proof view answered with, if the tool printed it. */
function identityIn(output: string, proofDatabase: string): Identity | undefined {
  const start = output.indexOf(`${proofDatabase}|`);
  if (start < 0) return undefined;
  const [, applicationName = '', lockTimeoutMs = ''] = /^[^|]*\|([^|]*)\|(\d*)/.exec(output.slice(start)) ?? [];
  return { applicationName, lockTimeoutMs };
}

function sessionWarnings(tool: string, identity: Identity, expectedName: string, lockTimeoutMs: number): string[] {
  const warnings: string[] = [];
  if (identity.applicationName !== serverApplicationName(expectedName)) {
    warnings.push(
      `${tool}'s sessions do not carry orchestrate's application_name (got "${identity.applicationName}"): after a timeout orchestrate cannot find and stop its server backends; pass PGAPPNAME to the driver (asyncpg ignores it: see "env.py patterns" in the README)`,
    );
  }
  if (identity.lockTimeoutMs !== String(lockTimeoutMs)) {
    warnings.push(
      `${tool}'s sessions run with lock_timeout ${identity.lockTimeoutMs} ms, not pipeline.lockTimeoutMs (${lockTimeoutMs} ms): a migration could queue behind a lock and block the application; pass PGOPTIONS to the driver (asyncpg ignores it: see "env.py patterns" in the README)`,
    );
  }
  return warnings;
}

function outputOf(run: ProgramRun): string {
  return `${run.stdout}\n${run.stderr}`;
}

async function proveAlembic(request: TargetProofRequest, proofDb: DbTarget, session: ToolSession, proofServer: ProofServer): Promise<TargetProof> {
  const { migrator } = request;
  const [schema, table] = splitTableName(migrator.versionTable ?? 'alembic_version');
  await withClient(proofDb, request.inspectName, async (client) => {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    const qualified = `${quoteIdent(schema)}.${quoteIdent(table)}`;
    await client.query(
      `CREATE VIEW ${qualified} AS SELECT current_database() || '|' || current_setting('application_name') || '|' || (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'lock_timeout') AS version_num`,
    );
  });
  // The target is watched too when the proof database is on another server (rehearsal.scratchUrl).
  const otherServers = sameServer(request.server, request.target) ? [] : [request.target];
  const watcher = watchSessions(proofServer, otherServers, session.applicationName, request.inspectName);
  let run: ProgramRun;
  let connectedTo: string[];
  try {
    run = await alembicCurrent({ executable: migrator.executable ?? ['alembic'], cwd: migrator.cwd, urlEnv: migrator.urlEnv, urlScheme: migrator.urlScheme }, proofDb, session);
  } finally {
    connectedTo = await watcher.stop();
  }
  const identity = identityIn(outputOf(run), proofDb.database);
  if (identity) {
    return {
      detail: `alembic connected to the database given in ${migrator.urlEnv} (its \`current\` read the proof database ${proofDb.database})`,
      warnings: sessionWarnings('alembic', identity, session.applicationName, request.lockTimeoutMs),
    };
  }
  throw new RefusedError(alembicRefusal(migrator.urlEnv, migrator.versionTable ?? 'alembic_version', proofDb.database, run, connectedTo));
}

/** Why the proof failed, as precisely as the evidence allows, and what to change. */
function alembicRefusal(urlEnv: string, versionTable: string, proofDatabase: string, run: ProgramRun, connectedTo: readonly string[]): string {
  const fix = fixHint(urlEnv);
  const inProof = connectedTo.filter((where) => where.startsWith(`${proofDatabase} on `));
  const elsewhere = connectedTo.filter((where) => !inProof.includes(where));
  if (elsewhere.length > 0) return `alembic did not connect to the database orchestrate gave it: env.py ignores ${urlEnv} (it connected to ${elsewhere.join(', ')}); ${fix}`;
  if (!run.ok) {
    return `alembic current failed with the database orchestrate gave it, so where alembic connects is unproven: ${lastLines(run.stderr || run.stdout) || `exit code ${run.exitCode}`} (if its driver needs its own URL scheme, e.g. postgresql+asyncpg, set migrator.urlScheme; if env.py reads another variable, ${fix})`;
  }
  const revision = run.stdout.trim().split(/\s+/)[0] ?? '';
  if (inProof.length > 0 || revision === '') {
    // Connected to the proof database (or to one at base) without finding the version table there.
    return `alembic did not read ${versionTable} in the database orchestrate gave it: env.py names its own version_table (set migrator.versionTable to it), or it ignores ${urlEnv} (${fix})`;
  }
  return `alembic did not connect to the database orchestrate gave it: env.py ignores ${urlEnv} (it read revision ${revision} from another database); ${fix}`;
}

async function proveCommand(request: TargetProofRequest, proofDb: DbTarget, session: ToolSession): Promise<TargetProof> {
  const { migrator } = request;
  const current = migrator.commands?.current;
  if (!current) throw new RefusedError('migrator.commands.current is not configured');
  // Counted from the server's own database: a connection to the proof database would count itself.
  const before = await sessionsEstablished(request.server, proofDb.database, request.inspectName);
  if (before === undefined) {
    return { detail: 'not proven: the command adapter is checked through pg_stat_database.sessions, which needs PostgreSQL 14+', warnings: [`orchestrate could not prove that the migration command connects to the database in ${migrator.urlEnv} (PostgreSQL < 14)`] };
  }
  const run = await runTemplate({ cwd: migrator.cwd, urlEnv: migrator.urlEnv, urlScheme: migrator.urlScheme }, current, {}, proofDb, session);
  const deadline = performance.now() + SESSION_COUNT_WAIT_MS;
  let after = before;
  while (after <= before && performance.now() < deadline) {
    await sleep(50);
    after = (await sessionsEstablished(request.server, proofDb.database, request.inspectName)) ?? before;
  }
  if (after > before || outputOf(run).includes(proofDb.database)) {
    return { detail: `the migration command connected to the database given in ${migrator.urlEnv} (a session opened in the proof database ${proofDb.database})`, warnings: [] };
  }
  const why = run.ok ? 'no session opened in the proof database' : `its current command failed: ${lastLines(run.stderr || run.stdout) || `exit code ${run.exitCode}`}`;
  throw new RefusedError(
    `the migration command did not connect to the database orchestrate gave it: it ignores ${migrator.urlEnv} (${why}); make it read the URL from ${migrator.urlEnv}, or set migrator.urlEnv to the variable it reads`,
  );
}

/**
 * Runs the proof for the configured tool. node-pg-migrate needs none: orchestrate passes
 * `--database-url-var <urlEnv>`, so it reads exactly that variable, and its revision is read by
 * orchestrate itself.
 */
export async function proveToolTarget(request: TargetProofRequest): Promise<TargetProof> {
  const { migrator } = request;
  if (migrator.tool === 'node-pg-migrate') {
    return { detail: `node-pg-migrate is started with --database-url-var ${migrator.urlEnv}: it reads that variable by construction`, warnings: [] };
  }
  const proofDb = withDatabase(request.server, scratchDatabaseName(request.target.database, request.runId, 'proof'));
  const session: ToolSession = {
    applicationName: `${request.applicationName}/proof`,
    lockTimeoutMs: request.lockTimeoutMs,
    timeoutMs: request.timeoutMs,
    ...(request.cancelSignal ? { cancelSignal: request.cancelSignal } : {}),
  };
  let client: pg.Client | undefined;
  try {
    client = await connect(request.server, request.inspectName);
    await client.query(`CREATE DATABASE ${quoteIdent(proofDb.database)} TEMPLATE template0`);
  } catch (error) {
    await client?.end().catch(() => undefined);
    throw new RefusedError(
      `cannot prove where the migration tool connects: creating the proof database on ${describeTarget(request.server)} failed (${errorMessage(error)}); the role needs CREATEDB there, as for the rehearsal, or set rehearsal.scratchUrl to a server where it may create databases`,
    );
  }
  const proofServer: ProofServer = { target: request.server, client };
  try {
    return migrator.tool === 'alembic' ? await proveAlembic(request, proofDb, session, proofServer) : await proveCommand(request, proofDb, session);
  } finally {
    try {
      await dropProofDatabase(proofServer, proofDb.database, request.inspectName);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * The proof database is dropped on the connection that created it; if that connection broke meanwhile,
 * on a new one, as the drop always was: the proof must not leave its database behind because of it.
 */
async function dropProofDatabase(proofServer: ProofServer, database: string, inspectName: string): Promise<void> {
  try {
    await dropDatabase(proofServer.client, database);
  } catch {
    await withClient(proofServer.target, inspectName, (fresh) => dropDatabase(fresh, database));
  }
}

/** The pipeline step: before the backup, the rehearsal and production, every tool run of the run. */
export async function proveToolTargetStep(state: MigrationRunState): Promise<StepResult> {
  const { context, target } = state;
  const { settings } = context;
  const proof = await proveToolTarget({
    migrator: settings.migrator,
    server: settings.rehearsal.scratchUrl ? parseDatabaseUrl(settings.rehearsal.scratchUrl) : target,
    target,
    runId: context.runId,
    applicationName: state.names.tool,
    inspectName: state.names.inspect,
    lockTimeoutMs: settings.pipeline.lockTimeoutMs,
    timeoutMs: settings.pipeline.timeoutSeconds * 1000,
    cancelSignal: state.interrupt.signal,
  });
  for (const warning of proof.warnings) context.logger.warn(warning);
  state.warnings.push(...proof.warnings);
  state.recorder.detail('toolTarget', proof);
  return { detail: proof.detail };
}

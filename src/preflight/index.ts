/** Preflight checks: what would stop or endanger a run, found before anything is changed. */
import type pg from 'pg';
import { databaseFacts } from '../backup/catalog.js';
import type { BackupContext } from '../backup/index.js';
import type { Settings } from '../config/settings.js';
import type { DbTarget } from '../db/target.js';
import { errorMessage } from '../errors.js';
import { pgProgram } from '../exec/pgDump.js';
import { redact } from '../util/redact.js';
import type { CheckResult } from '../validation/checks.js';
import { reach, reachOn, release, type Reached } from './connection.js';
import { diskCheck } from './disk.js';
import { createDatabaseCheck, ownerCheck } from './privileges.js';
import { judgeReplicas, replicas } from './replication.js';
import { nonSuperuserRestoreCheck } from './restore.js';
import { PREFLIGHT_CHECKS, guarded, pass, warn, type PreflightCheckName } from './result.js';
import { notChecked, serverCheck } from './server.js';
import { blockingSessions, sessionChecks } from './sessions.js';
import { findTool, toolCheck, toolNotNeeded, type FoundTool } from './tools.js';

export { PREFLIGHT_CHECKS, type PreflightCheckName } from './result.js';
export type { CheckResult } from '../validation/checks.js';

export interface PreflightCheckOptions {
  /** application_name of our own connections; sessions carrying it are never listed as blockers. */
  readonly applicationName: string;
  /** Where a scratch database would be created (default: the target's server, as the target's role). */
  readonly scratchServer?: DbTarget;
  /** Check pg_dump/pg_restore versions and disk room (otherwise those checks pass as "not needed"). */
  readonly willBackup: boolean;
  /** "schema.table" (bare name: public) the migration changes, when known: the ownership check. */
  readonly tablesToAlter?: readonly string[];
  /**
   * A backup archive pg_restore can read (a custom-format file, or an unpacked directory-format
   * dump): its table of contents is scanned instead of the live catalogs for objects a
   * non-superuser restore cannot recreate.
   */
  readonly archive?: string;
  /**
   * An open connection to `target` to run the checks on (the caller closes it). One that no longer
   * answers is replaced by a new connection, so the checks find what a fresh one would.
   */
  readonly connected?: pg.Client;
  /** pg_dump's and pg_restore's versions, when the caller started reading them earlier (readToolVersions). */
  readonly toolVersions?: Promise<ToolVersions>;
}

export type ToolVersions = readonly [pgDump: FoundTool, pgRestore: FoundTool];

/** Runs `pg_dump --version` and `pg_restore --version` at once; never rejects (a tool that cannot tell is a FoundTool with a reason). */
export function readToolVersions(settings: Settings): Promise<ToolVersions> {
  return Promise.all([findTool(settings, 'pg_dump'), findTool(settings, 'pg_restore')]);
}

async function reachTarget(target: DbTarget, options: PreflightCheckOptions): Promise<Reached> {
  if (options.connected) {
    const reached = await reachOn(options.connected, target);
    if (reached.ok) return reached;
  }
  return reach(target, options.applicationName);
}

type Connected = Extract<Reached, { ok: true }>;

async function databaseChecks(ctx: BackupContext, target: Connected, scratch: Reached, options: PreflightCheckOptions): Promise<Partial<Record<PreflightCheckName, CheckResult>>> {
  const { settings } = ctx;
  const { client, facts } = target;
  const results: Partial<Record<PreflightCheckName, CheckResult>> = {};
  results['privileges:owner'] = await guarded('privileges:owner', 'fail', () => ownerCheck(client, facts.role, options.tablesToAlter));
  if (options.willBackup) results.disk = await guarded('disk', 'fail', async () => diskCheck(settings, (await databaseFacts(client)).sizeBytes));
  try {
    [results['sessions:long-transactions'], results['sessions:idle-in-transaction']] = sessionChecks(
      await blockingSessions(client, settings, options.applicationName),
      settings,
      options.tablesToAlter,
    );
  } catch (error) {
    const reason = `could not check: ${redact(errorMessage(error))}`;
    results['sessions:long-transactions'] = warn('sessions:long-transactions', reason);
    results['sessions:idle-in-transaction'] = warn('sessions:idle-in-transaction', reason);
  }
  results.replication = facts.inRecovery
    ? warn('replication', 'not checked: the target is a standby (see the server check)')
    : await guarded('replication', 'warn', async () => judgeReplicas(await replicas(client), settings.preflight.maxReplicationLagSeconds));
  results['restore:non-superuser'] = await guarded('restore:non-superuser', 'warn', () =>
    nonSuperuserRestoreCheck({ target, scratch, pgRestore: pgProgram(settings.tools.pgBinDir, 'pg_restore'), archive: options.archive }),
  );
  return results;
}

/**
 * Runs every preflight check against `target` and returns one result per name of PREFLIGHT_CHECKS,
 * in that order. Nothing is changed: no database, file or directory is created. Each check is
 * independent and never throws: one that cannot run is a `warn` or `fail` giving the reason; checks
 * that need the server are `warn` "not checked" when it cannot be reached (the `server` check fails).
 */
export async function runPreflightChecks(ctx: BackupContext, target: DbTarget, options: PreflightCheckOptions): Promise<CheckResult[]> {
  const { settings } = ctx;
  // Started first (unless the caller did): the tools' --version runs overlap the catalog queries.
  const tools = options.willBackup ? (options.toolVersions ?? readToolVersions(settings)) : undefined;
  const reachedTarget = await reachTarget(target, options);
  const scratch = options.scratchServer ? await reach(options.scratchServer, options.applicationName) : reachedTarget;
  try {
    const results: Partial<Record<PreflightCheckName, CheckResult>> = {
      server: serverCheck(reachedTarget),
      'privileges:create-database': createDatabaseCheck(scratch),
      ...(reachedTarget.ok ? await databaseChecks(ctx, reachedTarget, scratch, options) : {}),
    };
    const server = reachedTarget.ok ? reachedTarget.facts : undefined;
    if (tools) {
      const [dump, restore] = await tools;
      results['tools:pg_dump'] = toolCheck('pg_dump', dump, server);
      results['tools:pg_restore'] = toolCheck('pg_restore', restore, server, dump);
    } else {
      results['tools:pg_dump'] = toolNotNeeded('pg_dump');
      results['tools:pg_restore'] = toolNotNeeded('pg_restore');
      results.disk = pass('disk', 'not needed: this run takes no backup');
    }
    const all = PREFLIGHT_CHECKS.map((name) => results[name] ?? notChecked(name));
    ctx.logger.debug({ event: 'preflight.checks', results: all }, 'preflight checks');
    return all;
  } finally {
    if (!reachedTarget.ok || reachedTarget.client !== options.connected) await release(reachedTarget);
    if (scratch !== reachedTarget) await release(scratch);
  }
}

/** The results that block a run: the failed ones. */
export function blockingChecks(results: readonly CheckResult[]): CheckResult[] {
  return results.filter((result) => result.status === 'fail');
}

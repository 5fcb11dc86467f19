import { preflightBackup } from '../backup/index.js';
import { connect } from '../db/client.js';
import { describeTarget, parseDatabaseUrl } from '../db/target.js';
import { blockingChecks, readToolVersions, runPreflightChecks, type CheckResult } from '../preflight/index.js';
import { RefusedError } from '../errors.js';
import { canPrompt, confirm } from '../util/prompt.js';
import type { StepResult } from './runner.js';
import { analyseMigrations, destructiveLines } from './safety.js';
import type { MigrationRunState, Plan } from './state.js';

/** Resolves the target and the migrations to run, in the tool's order, from the database's current state. */
export async function planRun(state: MigrationRunState): Promise<Plan> {
  const { migrator, target, options } = state;
  const current = await migrator.state(target, { applicationName: state.names.inspect });
  const plan = await migrator.plan(current, options.targetSpec, options.direction);
  return { from: current.current, to: plan.to, migrations: plan.migrations };
}

function describePlan(state: MigrationRunState, plan: Plan): string {
  const verb = state.options.direction === 'upgrade' ? 'apply' : 'revert';
  return `${verb} ${plan.migrations.length} migration${plan.migrations.length === 1 ? '' : 's'} on ${describeTarget(state.target)} (${state.context.settings.env}): ${plan.from ?? 'base'} -> ${plan.to ?? 'base'}`;
}

/**
 * The server's version, the plan and the preflight checks, on one connection to the target: it is opened
 * first, so that a bad target fails in one clear line before any tool starts. pg_dump's and pg_restore's
 * --version read no database: they run while the migration tool reads the plan.
 */
async function planAndCheck(state: MigrationRunState): Promise<{ stop: StepResult } | { stop?: never; plan: Plan; checks: CheckResult[] }> {
  const { context, options, target } = state;
  const { settings } = context;
  const client = await connect(target, state.names.inspect);
  const toolVersions = options.skipBackup ? undefined : readToolVersions(settings);
  try {
    const version = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    state.serverVersionNum = Number(version.rows[0]?.v);
    const plan = await planRun(state);
    state.plan = plan;
    state.recorder.detail('plan', { from: plan.from, to: plan.to, migrations: plan.migrations });
    if (plan.migrations.length === 0) return { stop: { detail: `up to date at ${plan.from ?? 'base'}`, stop: true } };
    const checks = await runPreflightChecks(context, target, {
      applicationName: state.names.inspect,
      willBackup: !options.skipBackup,
      connected: client,
      ...(toolVersions ? { toolVersions } : {}),
      ...(settings.rehearsal.scratchUrl ? { scratchServer: parseDatabaseUrl(settings.rehearsal.scratchUrl) } : {}),
    });
    return { plan, checks };
  } finally {
    await client.end().catch(() => undefined);
    // Never rejects; awaited so that no tool run outlives the step that started it.
    await toolVersions;
  }
}

/**
 * Settings, connectivity, tool and server versions, the plan, the environment guard, sessions that
 * would block DDL, and room for the backup. Nothing is changed.
 */
export async function preflight(state: MigrationRunState): Promise<StepResult> {
  const { context, options, target } = state;
  const { settings } = context;
  const planned = await planAndCheck(state);
  if (planned.stop) return planned.stop;
  const { checks, plan } = planned;
  state.preflightChecks = checks;
  state.recorder.detail('preflightChecks', checks);
  for (const check of checks) {
    // Without knowing which tables the migration alters, ownership is only a guess: keep it in the report.
    if (check.status === 'warn' && check.name !== 'privileges:owner') state.warnings.push(`${check.name}: ${check.detail}`);
  }
  for (const warning of state.warnings) context.logger.warn(warning);
  // Without a rehearsal no scratch database is created, so that privilege is not needed.
  const failed = blockingChecks(checks).filter((check) => !(check.name === 'privileges:create-database' && (options.skipRehearsal || options.skipBackup)));
  if (failed.length > 0) throw new RefusedError(`preflight checks failed: ${failed.map((check) => `${check.name}: ${check.detail}`).join('; ')}`);

  const production = settings.env === 'production';
  const forcedSkips = [options.skipBackup ? '--skip-backup' : '', options.skipRehearsal && options.command !== 'rollback' ? '--skip-test' : ''].filter(Boolean);
  if (production && forcedSkips.length > 0 && !options.force) {
    throw new RefusedError(`${forcedSkips.join(' and ')} in production needs --force (it is recorded in the report)`);
  }
  if (forcedSkips.length > 0) state.recorder.detail('forced', { skips: forcedSkips, reason: options.reason ?? null });

  // The backup store's room check and the static analysis (the tool's offline SQL, squawk) only read:
  // they run at once. A failure is reported as when they ran in turn: the backup check's first.
  const room = !options.skipBackup && !options.dryRun ? preflightBackup(context, target) : undefined;
  const [roomChecked, analysed] = await Promise.allSettled([room, analyseMigrations(state)]);
  if (roomChecked.status === 'rejected') throw roomChecked.reason;
  if (roomChecked.value) state.recorder.detail('backupPreflight', roomChecked.value);
  if (analysed.status === 'rejected') throw analysed.reason;
  const destroys = destructiveLines(state);
  for (const line of destroys) context.logger.warn({ destructive: true }, line);

  if (production && !options.dryRun && !settings.yes) {
    const losses = destroys.length > 0 ? ` It destroys data: ${destroys.join('; ')}` : '';
    if (!canPrompt()) throw new RefusedError(`production run needs --yes or a terminal to confirm: ${describePlan(state, plan)}.${losses}`);
    if (!(await confirm(`About to ${describePlan(state, plan)}.${losses}${losses ? '.' : ''}`))) throw new RefusedError(`not confirmed.${losses}`);
  }
  return { detail: describePlan(state, plan) };
}

import { ExitCode } from '../../errors.js';
import { dryRun, renderDryRun } from '../../pipeline/dryRun.js';
import { runMigration } from '../../pipeline/migrationRun.js';
import type { MigrationRunOptions } from '../../pipeline/state.js';
import type { DowngradeArgs } from '../downgrade.js';
import type { GlobalArgs } from '../options.js';
import { pipelineOverrides, type PipelineArgs } from '../pipelineOptions.js';
import type { RollbackArgs } from '../rollback.js';
import { renderRunSummary } from '../runSummary.js';
import { runCommand } from '../shared.js';
import type { UpgradeArgs } from '../upgrade.js';

/** The shared handler of upgrade, downgrade and rollback: a dry run, or the pipeline and its report. */
function runMigrationCommand(args: GlobalArgs & PipelineArgs, options: Omit<MigrationRunOptions, 'dryRun' | 'skipBackup' | 'skipRehearsal' | 'force' | 'reason'> & { skipRehearsal?: boolean }): Promise<void> {
  return runCommand({ name: options.command, args, overrides: pipelineOverrides(args) }, async (context) => {
    const runOptions: MigrationRunOptions = {
      ...options,
      dryRun: args.dryRun,
      skipBackup: args.skipBackup,
      skipRehearsal: options.skipRehearsal ?? args.skipTest,
      force: args.force,
      reason: args.reason,
    };
    if (args.dryRun) {
      const plan = await dryRun(context, runOptions);
      return { exitCode: ExitCode.Success, json: { dryRun: true, ...plan }, text: renderDryRun(plan) };
    }
    const result = await runMigration(context, runOptions);
    return { exitCode: result.exitCode, json: { ...result.report, reportFiles: result.reportFiles }, text: renderRunSummary(result) };
  });
}

export function upgrade(args: UpgradeArgs): Promise<void> {
  return runMigrationCommand(args, { command: 'upgrade', direction: 'upgrade', targetSpec: args.target });
}

export function downgrade(args: DowngradeArgs): Promise<void> {
  return runMigrationCommand(args, { command: 'downgrade', direction: 'downgrade', targetSpec: args.target });
}

export function rollback(args: RollbackArgs): Promise<void> {
  // An emergency path: no rehearsal unless asked for with downgrade.
  return runMigrationCommand(args, { command: 'rollback', direction: 'downgrade', targetSpec: args.revision, skipRehearsal: true });
}

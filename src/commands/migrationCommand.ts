import { EXIT_CODES, ExitCode, describeExitCode } from '../errors.js';
import { dryRun, renderDryRun } from '../pipeline/dryRun.js';
import { runMigration } from '../pipeline/migrationRun.js';
import type { MigrationRunOptions } from '../pipeline/state.js';
import { pipelineOverrides, type PipelineArgs } from './pipelineOptions.js';
import { runCommand, type GlobalArgs } from './shared.js';

/** The shared handler of upgrade, downgrade and rollback: a dry run, or the pipeline and its report. */
export function runMigrationCommand(args: GlobalArgs & PipelineArgs, options: Omit<MigrationRunOptions, 'dryRun' | 'skipBackup' | 'skipRehearsal' | 'force' | 'reason'> & { skipRehearsal?: boolean }): Promise<void> {
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
    const where = result.reportFiles ? `\nreport: ${result.reportFiles.markdown}` : '';
    const loud = result.exitCode === ExitCode.NeedsHuman ? `${EXIT_CODES[result.exitCode].production}: ` : '';
    const nextCommand = (result.report.details.rollback as { nextCommand?: string; verified?: boolean } | undefined);
    const next = result.exitCode === ExitCode.NeedsHuman && nextCommand?.nextCommand ? `\nnext: ${nextCommand.nextCommand}` : '';
    return {
      exitCode: result.exitCode,
      json: { ...result.report, reportFiles: result.reportFiles },
      text: `${loud}${result.outcome}: ${result.message}\n${describeExitCode(result.exitCode)}${next}${where}`,
    };
  });
}

import type { CommandModule } from 'yargs';
import { ExitCode } from '../errors.js';
import { selfTest } from '../pipeline/selfTest.js';
import { pipelineOverrides } from './pipelineOptions.js';
import { argsOf, runCommand, type GlobalArgs } from './shared.js';

type TestArgs = GlobalArgs & { readonly target: string; readonly timeout: number | undefined; readonly lockTimeout: number | undefined };

export const testCommand: CommandModule<GlobalArgs, TestArgs> = {
  command: 'test [target]',
  describe: 'on a scratch copy only: upgrade, validate, downgrade, compare, upgrade again, compare (exit 5 on a difference)',
  builder: argsOf<TestArgs>((yargs) =>
    yargs
      .positional('target', { type: 'string', default: 'head', describe: 'revision to test up to' })
      .option('timeout', { type: 'number', describe: 'wall-clock limit per tool run, seconds', requiresArg: true })
      .option('lock-timeout', { type: 'number', describe: 'lock_timeout of the tool sessions, ms', requiresArg: true })),
  handler: (args) =>
    runCommand(
      { name: 'test', args, overrides: pipelineOverrides({ ...args, lockRetries: undefined, dryRun: false, skipBackup: false, skipTest: false, force: false, reason: undefined }) },
      async (context) => {
        const result = await selfTest(context, args.target);
        const lines = result.stages.map((stage) => `${stage.ok ? 'ok  ' : 'FAIL'}  ${stage.name}: ${stage.detail}`);
        lines.push(result.ok ? `passed: ${result.from ?? 'base'} -> ${result.to ?? 'base'} -> ${result.from ?? 'base'} -> ${result.to ?? 'base'}` : `FAILED: ${result.failure ?? ''}`);
        return { exitCode: result.ok ? ExitCode.Success : ExitCode.RehearsalFailed, json: result, text: lines.join('\n') };
      },
    ),
};

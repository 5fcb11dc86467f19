import { ExitCode } from '../../errors.js';
import { selfTest } from '../../pipeline/selfTest.js';
import { pipelineOverrides } from '../pipelineOptions.js';
import { runCommand } from '../shared.js';
import type { TestArgs } from '../test.js';

export function test(args: TestArgs): Promise<void> {
  return runCommand(
    { name: 'test', args, overrides: pipelineOverrides({ ...args, lockRetries: undefined, dryRun: false, skipBackup: false, skipTest: false, force: false, reason: undefined }) },
    async (context) => {
      const result = await selfTest(context, args.target);
      const lines = result.stages.map((stage) => `${stage.ok ? 'ok  ' : 'FAIL'}  ${stage.name}: ${stage.detail}`);
      lines.push(result.ok ? `passed: ${result.from ?? 'base'} -> ${result.to ?? 'base'} -> ${result.from ?? 'base'} -> ${result.to ?? 'base'}` : `FAILED: ${result.failure ?? ''}`);
      return { exitCode: result.ok ? ExitCode.Success : ExitCode.RehearsalFailed, json: result, text: lines.join('\n') };
    },
  );
}

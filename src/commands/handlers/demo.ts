import { runDemo } from '../../demo/demo.js';
import { ExitCode } from '../../errors.js';
import type { DemoArgs } from '../demo.js';
import { setCommandExitCode } from '../exitCode.js';

export async function demo(args: DemoArgs): Promise<void> {
  const result = await runDemo({ ...(args.workspace ? { workspace: args.workspace } : {}), say: (line) => process.stderr.write(`${line}\n`) });
  if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  setCommandExitCode(ExitCode.Success);
}

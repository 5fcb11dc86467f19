import type { CommandModule } from 'yargs';
import { ExitCode } from '../errors.js';
import { validateNow } from '../pipeline/validateNow.js';
import { runCommand, type GlobalArgs } from './shared.js';

export const validateCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'validate',
  describe: 'run the post-migration validation against the database now (exit 3 when a check fails)',
  handler: (args) =>
    runCommand({ name: 'validate', args, consoleLevel: 'warn' }, async (context) => {
      const report = await validateNow(context);
      const width = Math.max(...report.checks.map((check) => check.name.length));
      const lines = report.checks.map((check) => `${check.status.toUpperCase().padEnd(4)}  ${check.name.padEnd(width)}  ${check.detail}`);
      return {
        exitCode: report.ok ? ExitCode.Success : ExitCode.Refused,
        json: report,
        text: [...lines, report.ok ? 'valid' : 'INVALID'].join('\n'),
      };
    }),
};

import { ExitCode } from '../../errors.js';
import { validateNow } from '../../pipeline/validateNow.js';
import type { GlobalArgs } from '../options.js';
import { runCommand } from '../shared.js';

export function validate(args: GlobalArgs): Promise<void> {
  return runCommand({ name: 'validate', args, consoleLevel: 'warn' }, async (context) => {
    const report = await validateNow(context);
    const width = Math.max(...report.checks.map((check) => check.name.length));
    const lines = report.checks.map((check) => `${check.status.toUpperCase().padEnd(4)}  ${check.name.padEnd(width)}  ${check.detail}`);
    return {
      exitCode: report.ok ? ExitCode.Success : ExitCode.Refused,
      json: report,
      text: [...lines, report.ok ? 'valid' : 'INVALID'].join('\n'),
    };
  });
}

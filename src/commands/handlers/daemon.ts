import { daemonSchema } from '../../config/schema.js';
import { flagProblem } from '../../config/settings.js';
import { runDaemon } from '../../daemon/run.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { DaemonArgs } from '../daemon.js';
import { runCommand } from '../shared.js';

export function daemon(args: DaemonArgs): Promise<void> {
  // Checked before the run starts its log: bad input writes nothing.
  const portProblem = args.port === undefined ? undefined : flagProblem(daemonSchema.shape.port, args.port, '--port');
  if (portProblem) throw new UsageError(portProblem);
  return runCommand({ name: 'daemon', args, consoleMode: 'events' }, async (context) => {
    const result = await runDaemon(context, args.port !== undefined ? { port: args.port } : {});
    return {
      exitCode: ExitCode.Success,
      text: `daemon stopped on ${result.signal}${result.cancelled.length > 0 ? ` (cancelled: ${result.cancelled.join(', ')})` : ''}`,
      json: { stopped: true, signal: result.signal, url: result.url, cancelled: result.cancelled, abandoned: result.abandoned },
    };
  });
}

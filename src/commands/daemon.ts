import type { CommandModule } from 'yargs';
import { daemonSchema } from '../config/schema.js';
import { flagProblem } from '../config/settings.js';
import { runDaemon } from '../daemon/run.js';
import { ExitCode, UsageError } from '../errors.js';
import { argsOf, runCommand, type GlobalArgs } from './shared.js';

interface DaemonArgs extends GlobalArgs {
  readonly port: number | undefined;
}

export const daemonCommand: CommandModule<GlobalArgs, DaemonArgs> = {
  command: 'daemon',
  describe: 'run the scheduled jobs (retention, backups, pending check, housekeeping) and serve /healthz, /metrics, /runs until SIGTERM',
  builder: argsOf<DaemonArgs>((yargs) =>
    yargs.option('port', { type: 'number', describe: 'HTTP port (default: daemon.port; 0 picks a free one)', requiresArg: true })),
  handler: (args) => {
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
  },
};

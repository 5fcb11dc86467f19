import type { CommandModule } from 'yargs';
import { argsOf, lazyHandler, type GlobalArgs } from './options.js';

export interface DaemonArgs extends GlobalArgs {
  readonly port: number | undefined;
}

export const daemonCommand: CommandModule<GlobalArgs, DaemonArgs> = {
  command: 'daemon',
  describe: 'run the scheduled jobs (retention, backups, pending check, housekeeping) and serve /healthz, /metrics, /runs until SIGTERM',
  builder: argsOf<DaemonArgs>((yargs) =>
    yargs.option('port', { type: 'number', describe: 'HTTP port (default: daemon.port; 0 picks a free one)', requiresArg: true })),
  handler: lazyHandler(async () => (await import('./handlers/daemon.js')).daemon),
};

import { randomBytes } from 'node:crypto';
import { loadSettings, type GlobalFlags, type SettingOverrides, type Settings } from './config/settings.js';
import type { DbTarget } from './db/target.js';
import { UsageError } from './errors.js';
import { createRunLog, type ConsoleLevel, type ConsoleMode, type Logger } from './log/logger.js';
import { createMigrator, type Migrator, type ToolSession } from './migrators/index.js';

/** Everything one invocation shares: its id, settings, log and the tools it drives. */
export interface RunContext {
  readonly runId: string;
  readonly command: string;
  readonly startedAt: Date;
  readonly settings: Settings;
  readonly logger: Logger;
  /** Writes to the run's log file only. */
  readonly fileLogger: Logger;
  readonly logFile: string;
  /** Ends the terminal's step view: call before printing the outcome. */
  closeConsole(): void;
  /** Reopens the log file by name after it was renamed away (the daemon's log rotation). */
  reopenLog(): void;
  /** application_name of every session this run opens, in-process or in a child. */
  readonly applicationName: string;
  /** The target database, or a usage error when none is configured. */
  target(): DbTarget;
  migrator(): Migrator;
  /** A tool session tagged with this run's application_name. */
  toolSession(extra?: Omit<ToolSession, 'applicationName'>): ToolSession;
}

export interface ContextOptions {
  readonly command: string;
  readonly flags: GlobalFlags;
  readonly overrides?: SettingOverrides;
  readonly consoleLevel: ConsoleLevel;
  readonly consoleMode?: ConsoleMode;
}

export function newRunId(): string {
  return randomBytes(4).toString('hex');
}

/** The application_name prefix shared by all runs, so leftovers of any run can be found. */
export const APPLICATION_NAME_PREFIX = 'orchestrate/';

export function createRunContext(options: ContextOptions): RunContext {
  const settings = loadSettings({ flags: options.flags, ...(options.overrides ? { overrides: options.overrides } : {}) });
  const runId = newRunId();
  const startedAt = new Date();
  const { logger, fileLogger, file, closeConsole, reopen } = createRunLog({
    logDir: settings.logDir,
    runId,
    command: options.command,
    consoleLevel: options.consoleLevel,
    ...(options.consoleMode ? { consoleMode: options.consoleMode } : {}),
    startedAt,
  });
  const applicationName = `${APPLICATION_NAME_PREFIX}${runId}`;
  let migrator: Migrator | undefined;
  logger.debug({ env: settings.env, configFile: settings.configFile, tool: settings.migrator.tool }, 'settings loaded');
  return {
    runId,
    command: options.command,
    startedAt,
    settings,
    logger,
    fileLogger,
    logFile: file,
    closeConsole,
    reopenLog: reopen,
    applicationName,
    target() {
      if (!settings.target) throw new UsageError('no database given: set DATABASE_URL, pass --database-url, or set databaseUrl in the config file');
      return settings.target;
    },
    migrator() {
      migrator ??= createMigrator(settings.migrator);
      return migrator;
    },
    toolSession(extra = {}) {
      return { ...extra, applicationName };
    },
  };
}

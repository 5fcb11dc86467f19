import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseDatabaseUrl, type DbTarget } from '../db/target.js';
import { registerSecret } from '../util/redact.js';
import { ENVIRONMENTS, configFileSchema, pipelineSchema, type ConfigFile, type Environment } from './schema.js';

export const DEFAULT_CONFIG_FILE = 'orchestrate.config.json';

/** Values that come from the command line; every command accepts these. */
export interface GlobalFlags {
  readonly databaseUrl?: string | undefined;
  readonly config?: string | undefined;
  readonly env?: Environment | undefined;
  readonly yes?: boolean | undefined;
  readonly json?: boolean | undefined;
  readonly backupDir?: string | undefined;
  readonly logDir?: string | undefined;
  readonly reportDir?: string | undefined;
}

/** Command-specific flags that override a config key (`--timeout` -> pipeline.timeoutSeconds, ...). */
export interface SettingOverrides {
  readonly timeoutSeconds?: number | undefined;
  readonly lockTimeoutMs?: number | undefined;
  readonly lockRetries?: number | undefined;
}

type DeepReadonly<T> = T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

export type Settings = DeepReadonly<
  Omit<ConfigFile, 'databaseUrl' | 'env' | 'backupDir' | 'logDir' | 'reportDir'> & {
    /** The target database; undefined when none was given (commands that need one say so). */
    target: DbTarget | undefined;
    env: Environment;
    backupDir: string;
    logDir: string;
    reportDir: string;
    /** The config file that was read, if any. */
    configFile: string | undefined;
    /** Skip interactive confirmations. */
    yes: boolean;
    json: boolean;
  }
>;

export interface LoadOptions {
  readonly flags: GlobalFlags;
  readonly overrides?: SettingOverrides;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/**
 * Settings in one validated, frozen object: defaults < config file < environment < flags.
 * Every problem is collected and reported in a single ConfigError.
 */
export function loadSettings(options: LoadOptions): Settings {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const { flags, overrides = {} } = options;
  const problems: string[] = [];

  const configFile = locateConfigFile(flags.config, cwd, problems);
  const configDir = configFile ? path.dirname(configFile) : cwd;
  const raw = configFile ? readConfigFile(configFile, problems) : {};

  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) problems.push(...formatIssues(parsed.error.issues, configFile ? path.basename(configFile) : 'config'));

  const environment = pickEnvironment(flags.env, env.ORCHESTRATE_ENV, parsed.success ? parsed.data.env : undefined, problems);

  const databaseUrl = flags.databaseUrl ?? env.DATABASE_URL ?? (parsed.success ? parsed.data.databaseUrl : undefined);
  let target: DbTarget | undefined;
  if (databaseUrl) {
    try {
      target = parseDatabaseUrl(databaseUrl, env.POSTGRES_PASSWORD || undefined, env);
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  registerSecret(env.POSTGRES_PASSWORD);

  // Flags go through the same schema fields as the config keys they override: one range check for both.
  if (overrides.timeoutSeconds !== undefined) checkOverride(pipelineSchema.shape.timeoutSeconds, overrides.timeoutSeconds, '--timeout (seconds)', problems);
  if (overrides.lockTimeoutMs !== undefined) checkOverride(pipelineSchema.shape.lockTimeoutMs, overrides.lockTimeoutMs, '--lock-timeout (milliseconds; 0 would disable the timeout)', problems);
  if (overrides.lockRetries !== undefined) checkOverride(pipelineSchema.shape.lockRetries, overrides.lockRetries, '--lock-retries (a whole number from 0 to 20)', problems);

  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const file = parsed.data;

  const dir = (flag: string | undefined, envValue: string | undefined, fileValue: string | undefined, fallback: string): string => {
    if (flag) return path.resolve(cwd, flag);
    if (envValue) return path.resolve(cwd, envValue);
    if (fileValue) return path.resolve(configDir, fileValue);
    return path.resolve(cwd, fallback);
  };

  const settings = {
    ...file,
    target,
    env: environment,
    backupDir: dir(flags.backupDir, env.BACKUP_DIR, file.backupDir, 'backups'),
    logDir: dir(flags.logDir, env.LOG_DIR, file.logDir, 'logs'),
    reportDir: dir(flags.reportDir, env.REPORT_DIR, file.reportDir, 'reports'),
    configFile,
    yes: flags.yes ?? false,
    json: flags.json ?? false,
    migrator: { ...file.migrator, cwd: path.resolve(configDir, file.migrator.cwd) },
    pipeline: {
      ...file.pipeline,
      timeoutSeconds: overrides.timeoutSeconds ?? file.pipeline.timeoutSeconds,
      lockTimeoutMs: overrides.lockTimeoutMs ?? file.pipeline.lockTimeoutMs,
      lockRetries: overrides.lockRetries ?? file.pipeline.lockRetries,
    },
    rollback: { ...file.rollback, restore: file.rollback.restore ?? (environment === 'production' ? 'confirm' : 'auto') },
  };
  delete (settings as { databaseUrl?: string }).databaseUrl;
  return deepFreeze(settings);
}

function locateConfigFile(explicit: string | undefined, cwd: string, problems: string[]): string | undefined {
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (!existsSync(file)) problems.push(`config file ${file} does not exist`);
    return file;
  }
  const implicit = path.resolve(cwd, DEFAULT_CONFIG_FILE);
  return existsSync(implicit) ? implicit : undefined;
}

function readConfigFile(file: string, problems: string[]): unknown {
  if (!existsSync(file)) return {};
  try {
    const value: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${path.basename(file)}: must hold a JSON object`);
      return {};
    }
    return value;
  } catch (error) {
    problems.push(`${path.basename(file)}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
    return {};
  }
}

function pickEnvironment(flag: Environment | undefined, envValue: string | undefined, fileValue: Environment | undefined, problems: string[]): Environment {
  if (flag) return flag;
  if (envValue !== undefined && envValue !== '') {
    if ((ENVIRONMENTS as readonly string[]).includes(envValue)) return envValue as Environment;
    problems.push(`ORCHESTRATE_ENV="${envValue}" is not one of ${ENVIRONMENTS.join(', ')}`);
  }
  return fileValue ?? 'production';
}

function checkOverride(field: z.ZodType, value: number, flag: string, problems: string[]): void {
  const problem = flagProblem(field, value, flag);
  if (problem) problems.push(problem);
}

/** A flag's value checked with the schema field of the config key it stands for: one range check for both. */
export function flagProblem(field: z.ZodType, value: number, flag: string): string | undefined {
  const result = field.safeParse(value);
  return result.success ? undefined : `${flag}: ${result.error.issues.map((issue) => issue.message).join('; ')}`;
}

function formatIssues(issues: readonly z.core.$ZodIssue[], source: string): string[] {
  return issues.map((issue) => {
    const where = issue.path.length > 0 ? `${source}: ${issue.path.join('.')}` : source;
    if (issue.code === 'unrecognized_keys') return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return `${where}: ${issue.message}`;
  });
}

function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value as DeepReadonly<T>;
}

import { parse } from 'pg-connection-string';
import type { ClientConfig } from 'pg';
import { UsageError } from '../errors.js';
import { redact, registerSecret } from '../util/redact.js';

/**
 * A database to connect to, parsed once from a connection URL. The password lives here and nowhere
 * else: child processes get it through the environment built by `libpqEnv`, never through argv.
 */
export interface DbTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string | undefined;
  /** Other libpq parameters from the URL's query string (sslmode, ...). */
  readonly params: Readonly<Record<string, string>>;
}

const PARAM_ENV: Readonly<Record<string, string>> = {
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  connect_timeout: 'PGCONNECT_TIMEOUT',
};

export function parseDatabaseUrl(url: string, fallbackPassword?: string): DbTarget {
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new UsageError(`database URL must start with postgresql:// (got "${redact(url)}")`);
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(url);
  } catch (error) {
    throw new UsageError(`cannot parse database URL "${redact(url)}"`, { cause: error });
  }
  const database = parsed.database ?? undefined;
  if (!database) throw new UsageError(`database URL "${redact(url)}" names no database`);
  const params: Record<string, string> = {};
  for (const key of Object.keys(PARAM_ENV)) {
    const value = (parsed as Record<string, unknown>)[key];
    if (typeof value === 'string' && value !== '') params[key] = value;
  }
  const password = parsed.password || fallbackPassword || undefined;
  registerSecret(password);
  return {
    host: parsed.host || 'localhost',
    port: parsed.port ? Number(parsed.port) : 5432,
    database,
    user: parsed.user || process.env.PGUSER || 'postgres',
    password,
    params,
  };
}

export function withDatabase(target: DbTarget, database: string): DbTarget {
  return { ...target, database };
}

/** `user@host:port/db`, safe to print. */
export function describeTarget(target: DbTarget): string {
  return `${target.user}@${target.host}:${target.port}/${target.database}`;
}

/** A URL without the password, for tools that want a URL; the password travels in PGPASSWORD. */
export function urlWithoutPassword(target: DbTarget): string {
  const query = new URLSearchParams(target.params).toString();
  const host = target.host.startsWith('/') ? `?host=${encodeURIComponent(target.host)}` : '';
  const authority = target.host.startsWith('/') ? '' : `${target.host}:${target.port}`;
  const base = `postgresql://${encodeURIComponent(target.user)}@${authority}/${encodeURIComponent(target.database)}`;
  if (host) return `${base}${host}${query ? `&${query}` : ''}`;
  return query ? `${base}?${query}` : base;
}

export function sameServer(a: DbTarget, b: DbTarget): boolean {
  const normalise = (host: string) => (host === '127.0.0.1' || host === '::1' ? 'localhost' : host);
  return normalise(a.host) === normalise(b.host) && a.port === b.port;
}

export interface SessionOptions {
  /** application_name of every session, so a run's server backends can be found and cancelled. */
  readonly applicationName: string;
  readonly lockTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  /** client_connection_check_interval (PostgreSQL 14+): the server ends a backend whose client died. */
  readonly connectionCheckIntervalMs?: number;
}

/** Server settings for a session, as libpq's PGOPTIONS string. */
export function sessionOptionsString(options: SessionOptions): string | undefined {
  const parts: string[] = [];
  if (options.lockTimeoutMs !== undefined) parts.push(`-c lock_timeout=${options.lockTimeoutMs}`);
  if (options.statementTimeoutMs !== undefined) parts.push(`-c statement_timeout=${options.statementTimeoutMs}`);
  if (options.connectionCheckIntervalMs !== undefined) parts.push(`-c client_connection_check_interval=${options.connectionCheckIntervalMs}`);
  return parts.length > 0 ? parts.join(' ') : undefined;
}

/** The libpq environment for a child process: connection, password, application_name and session options. */
export function libpqEnv(target: DbTarget, options: SessionOptions): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: target.host,
    PGPORT: String(target.port),
    PGDATABASE: target.database,
    PGUSER: target.user,
    PGAPPNAME: options.applicationName,
  };
  if (target.password !== undefined) env.PGPASSWORD = target.password;
  for (const [key, envName] of Object.entries(PARAM_ENV)) {
    const value = target.params[key];
    if (value !== undefined) env[envName] = value;
  }
  const pgOptions = sessionOptionsString(options);
  if (pgOptions) env.PGOPTIONS = pgOptions;
  return env;
}

/** Configuration for an in-process node-postgres client. */
export function clientConfig(target: DbTarget, applicationName: string): ClientConfig {
  const ssl = target.params.sslmode && target.params.sslmode !== 'disable' ? { rejectUnauthorized: target.params.sslmode === 'verify-full' } : undefined;
  return {
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    application_name: applicationName,
    connectionTimeoutMillis: 10_000,
    ...(ssl ? { ssl } : {}),
  };
}

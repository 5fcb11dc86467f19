import { parse } from 'pg-connection-string';
import type { ClientConfig } from 'pg';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { UsageError, errorMessage } from '../errors.js';
import { redactUnparsableUrl, registerSecret } from '../util/redact.js';
import { MAX_IDENTIFIER_BYTES } from './names.js';

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

/** URL parameters that reach every connection, orchestrate's own and the tools', with their libpq variables. */
const PARAM_ENV: Readonly<Record<string, string>> = {
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  connect_timeout: 'PGCONNECT_TIMEOUT',
};

/** The TLS settings libpq also takes from the environment when the URL has none. */
const TLS_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey'] as const;

/** Query parameters a database URL may carry; any other is refused rather than silently dropped. */
export const URL_PARAMETERS: readonly string[] = ['host', 'port', 'user', 'password', ...Object.keys(PARAM_ENV)];

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** libpq's connect_timeout is in seconds; beyond this Node's timers (2^31-1 ms) would fire at once. */
const MAX_CONNECT_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

export function parseDatabaseUrl(url: string, fallbackPassword?: string, env: NodeJS.ProcessEnv = process.env): DbTarget {
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new UsageError(`database URL must start with postgresql:// (got "${redactUnparsableUrl(url)}")`);
  }
  const { withoutTls, query } = splitQuery(url);
  let parsed: ReturnType<typeof parse>;
  try {
    // The TLS parameters are left out here and applied by tlsOptions once the environment and libpq's
    // defaults are known; useLibpqCompat keeps pg-connection-string from warning on stderr regardless.
    parsed = parse(withoutTls, { useLibpqCompat: true });
  } catch (error) {
    throw urlError(url, error);
  }
  // Registered before any message can quote the URL: a password holding `@` defeats the URI pattern.
  registerSecret(parsed.password);
  for (const name of query.keys()) {
    if (name === 'options') {
      throw new UsageError('database URL parameter "options" is refused: orchestrate sets the session options itself (lock_timeout, statement_timeout); use pipeline.lockTimeoutMs');
    }
    if (!URL_PARAMETERS.includes(name)) {
      throw new UsageError(`database URL parameter "${name}" is not supported (supported: ${URL_PARAMETERS.join(', ')})`);
    }
  }
  const params: Record<string, string> = {};
  for (const key of Object.keys(PARAM_ENV)) {
    const value = query.get(key);
    if (value) params[key] = value;
  }
  for (const key of TLS_PARAMS) {
    const fromEnv = env[PARAM_ENV[key] ?? ''];
    if (params[key] === undefined && fromEnv) params[key] = fromEnv;
  }
  applyLibpqTlsDefaults(params, env);
  checkConnectionParams(params);
  const database = parsed.database ?? undefined;
  if (!database) throw new UsageError(`database URL "${redactUnparsableUrl(url)}" names no database`);
  if (Buffer.byteLength(database) > MAX_IDENTIFIER_BYTES) {
    throw new UsageError(`database name "${database.slice(0, 20)}..." is ${Buffer.byteLength(database)} bytes long; PostgreSQL names are at most ${MAX_IDENTIFIER_BYTES} bytes (a longer one would address a truncated name)`);
  }
  const password = parsed.password || fallbackPassword || undefined;
  registerSecret(password);
  const target: DbTarget = {
    host: parsed.host || 'localhost',
    port: parsed.port ? Number(parsed.port) : 5432,
    database,
    user: parsed.user || env.PGUSER || 'postgres',
    password,
    params,
  };
  // Reads the certificate files once now: a missing or unreadable one is a configuration error before anything starts.
  tlsOptions(target);
  return target;
}

function urlError(url: string, error: unknown): UsageError {
  const message = errorMessage(error);
  if (message.startsWith('Both useLibpqCompat and uselibpqcompat')) return new UsageError('database URL parameter "uselibpqcompat" is not supported: orchestrate always uses libpq semantics');
  if (message.includes('sslmode=verify-ca requires specifying a CA')) {
    return new UsageError('sslmode=verify-ca needs sslrootcert=FILE, the CA that signed the server certificate (or use sslmode=verify-full)');
  }
  const file = (error as NodeJS.ErrnoException).path;
  if (file !== undefined) return new UsageError(`cannot read ${file} named in the database URL (${(error as NodeJS.ErrnoException).code ?? message})`, { cause: error });
  return new UsageError(`cannot parse database URL "${redactUnparsableUrl(url)}"`, { cause: error });
}

/**
 * The URL's query parameters, and the URL without its TLS ones. The first `?` before any `#` starts the
 * query; in a URL where it does not (a password holding `?`), parse fails on what is left and says so.
 */
function splitQuery(url: string): { withoutTls: string; query: URLSearchParams } {
  const hash = url.indexOf('#');
  const fragment = hash >= 0 ? url.slice(hash) : '';
  const withoutFragment = hash >= 0 ? url.slice(0, hash) : url;
  const question = withoutFragment.indexOf('?');
  if (question < 0) return { withoutTls: url, query: new URLSearchParams() };
  const query = new URLSearchParams(withoutFragment.slice(question + 1));
  const rest = new URLSearchParams([...query].filter(([name]) => !(TLS_PARAMS as readonly string[]).includes(name)));
  return { withoutTls: `${withoutFragment.slice(0, question)}${rest.size > 0 ? `?${rest.toString()}` : ''}${fragment}`, query };
}

/** `sslrootcert=system`: the operating system's CAs (libpq 16+), for servers with publicly signed certificates. */
const SYSTEM_ROOT_CERT = 'system';

/**
 * libpq's defaults for what the URL and environment leave open, so that orchestrate and the tools decide
 * alike: the root certificate is ~/.postgresql/root.crt when that file exists, and sslrootcert=system
 * implies sslmode=verify-full.
 */
function applyLibpqTlsDefaults(params: Record<string, string>, env: NodeJS.ProcessEnv): void {
  const defaultRootCert = env.HOME ? path.join(env.HOME, '.postgresql', 'root.crt') : undefined;
  if (params.sslrootcert === undefined && defaultRootCert !== undefined && existsSync(defaultRootCert)) params.sslrootcert = defaultRootCert;
  if (params.sslrootcert === SYSTEM_ROOT_CERT && params.sslmode === undefined) params.sslmode = 'verify-full';
}

function checkConnectionParams(params: Readonly<Record<string, string>>): void {
  const mode = params.sslmode;
  if (mode !== undefined && !(SSL_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`sslmode "${mode}" is not one of ${SSL_MODES.join(', ')}`);
  }
  if ((mode === 'verify-ca' || mode === 'verify-full') && params.sslrootcert === undefined) {
    // libpq, and so pg_dump and the tool, would fail the same way: say so before anything starts.
    throw new UsageError(`sslmode=${mode} needs sslrootcert=FILE, the CA that signed the server certificate, or sslrootcert=system for publicly signed ones (libpq looks for ~/.postgresql/root.crt, which does not exist)`);
  }
  if (params.sslrootcert === SYSTEM_ROOT_CERT && mode !== 'verify-full') {
    throw new UsageError(`sslrootcert=system needs sslmode=verify-full (libpq refuses a weaker sslmode "${mode ?? 'prefer'}" with it)`);
  }
  const timeout = params.connect_timeout;
  if (timeout !== undefined) {
    const seconds = Number(timeout);
    if (!/^\d+$/.test(timeout) || seconds < 1 || seconds > MAX_CONNECT_TIMEOUT_SECONDS) {
      throw new UsageError(`connect_timeout "${timeout}" must be a whole number of seconds from 1 to ${MAX_CONNECT_TIMEOUT_SECONDS} (0, waiting forever, is not allowed)`);
    }
  }
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

/** The sslmode in force: the URL's (or PGSSLMODE), else libpq's default, prefer. */
export function sslMode(target: DbTarget): SslMode {
  return (target.params.sslmode as SslMode | undefined) ?? 'prefer';
}

/**
 * TLS options for node-postgres with libpq's meaning of `mode` (pg-connection-string's libpq-compatible
 * parse builds them): verify-full checks the chain and the host name, verify-ca the chain only, require
 * encrypts without checking (unless sslrootcert is given: then as verify-ca), prefer and allow never check.
 */
export function tlsOptions(target: DbTarget, mode: SslMode = sslMode(target)): TlsOptions {
  const query = new URLSearchParams({ sslmode: mode === 'allow' ? 'prefer' : mode });
  for (const key of TLS_PARAMS) {
    const value = target.params[key];
    // Without a ca, Node verifies against its own CA store: what sslrootcert=system asks for.
    if (key !== 'sslmode' && value !== undefined && !(key === 'sslrootcert' && value === SYSTEM_ROOT_CERT)) query.set(key, value);
  }
  let ssl: unknown;
  try {
    ssl = parse(`postgresql://localhost/db?${query.toString()}`, { useLibpqCompat: true }).ssl;
  } catch (error) {
    throw urlError('', error);
  }
  return typeof ssl === 'object' && ssl !== null ? (ssl as TlsOptions) : {};
}

/** One way of connecting: in the clear, or over TLS with these options. */
export type TlsAttempt = false | TlsOptions;

/**
 * The attempts libpq makes for the target's sslmode, in order: prefer tries TLS and falls back to a
 * plain connection, allow the other way round. Unix sockets never use TLS, as with libpq.
 */
export function tlsAttempts(target: DbTarget): readonly TlsAttempt[] {
  const mode = sslMode(target);
  if (target.host.startsWith('/') || mode === 'disable') return [false];
  if (mode === 'allow') return [false, tlsOptions(target)];
  if (mode === 'prefer') return [tlsOptions(target), false];
  return [tlsOptions(target)];
}

/**
 * The bounds of every session orchestrate opens itself, in one place. Steps that need tighter ones set
 * them per transaction (SET LOCAL); tool sessions get theirs through PGOPTIONS (sessionOptionsString).
 */
export const OWN_SESSION_LIMITS = {
  /** Without connect_timeout in the URL. */
  connectTimeoutMs: 10_000,
  /** Catalog reads, DDL on scratch databases, renames: none should queue behind a lock longer than this. */
  lockTimeoutMs: 30_000,
  /** The longest single statement: a row count or checksum of a large table during validation. */
  statementTimeoutMs: 30 * 60_000,
  /** The client stops waiting this long after the server should have cancelled a statement (a server that stopped answering). */
  clientGraceMs: 10_000,
} as const;

export interface SessionLimits {
  readonly connectTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  readonly lockTimeoutMs?: number;
  /** Client-side bound of each query; default: the statement timeout plus OWN_SESSION_LIMITS.clientGraceMs. */
  readonly queryTimeoutMs?: number;
}

/** Configuration for an in-process node-postgres client: one attempt of `tlsAttempts`, bounded by `OWN_SESSION_LIMITS`. */
export function clientConfig(target: DbTarget, applicationName: string, tls: TlsAttempt, limits: SessionLimits = {}): ClientConfig {
  const connectTimeout = target.params.connect_timeout;
  const statementTimeoutMs = limits.statementTimeoutMs ?? OWN_SESSION_LIMITS.statementTimeoutMs;
  return {
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    application_name: applicationName,
    connectionTimeoutMillis: limits.connectTimeoutMs ?? (connectTimeout !== undefined ? Number(connectTimeout) * 1000 : OWN_SESSION_LIMITS.connectTimeoutMs),
    lock_timeout: limits.lockTimeoutMs ?? OWN_SESSION_LIMITS.lockTimeoutMs,
    statement_timeout: statementTimeoutMs,
    query_timeout: limits.queryTimeoutMs ?? statementTimeoutMs + OWN_SESSION_LIMITS.clientGraceMs,
    // Always explicit: left undefined, node-postgres would read PGSSLMODE itself, without libpq's meaning.
    ssl: tls,
  };
}

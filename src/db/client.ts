import pg from 'pg';
import { RefusedError, UsageError, errorMessage } from '../errors.js';
import { redact } from '../util/redact.js';
import { clientConfig, describeTarget, sslMode, tlsAttempts, type DbTarget, type SessionLimits } from './target.js';

export type Client = pg.Client;

/**
 * Opens a client the way libpq would for the target's sslmode (prefer: TLS, else in the clear), or fails
 * with one clear line: a wrong password or a missing database is a configuration error (exit 2); a
 * server that cannot be reached, refuses TLS that sslmode demands, or whose certificate does not verify
 * is a refusal (exit 3).
 */
export async function connect(target: DbTarget, applicationName: string, limits: SessionLimits = {}): Promise<pg.Client> {
  let lastError: unknown;
  const prefer = sslMode(target) === 'prefer';
  const attempts = prefer && serversWithoutTls.has(serverKey(target)) ? [false as const] : tlsAttempts(target);
  for (const tls of attempts) {
    const client = new pg.Client(clientConfig(target, applicationName, tls, limits));
    // A server that goes away later must not crash the process through an unhandled 'error' event.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      lastError = error;
      if (prefer && tls !== false && errorMessage(error) === NO_TLS_ON_SERVER) serversWithoutTls.add(serverKey(target));
      if (!worthAnotherAttempt(error)) break;
    }
  }
  throw connectionError(target, lastError);
}

const NO_TLS_ON_SERVER = 'The server does not support SSL connections';

/**
 * Servers (host:port) that answered this process's TLS request with "no TLS here". libpq's prefer asks
 * and carries on in the clear on the same connection; node-postgres cannot, so every prefer connection
 * to such a server would cost a refused connection (a backend start on the server) before the real one.
 * A run opens a dozen connections within seconds: the server's answer is remembered instead. Only for
 * prefer, which encrypts when it can and never verifies (anyone in the path can answer "no TLS"
 * themselves), so remembering the answer changes nothing it promises; allow, require and the verify
 * modes make their attempts as always.
 */
const serversWithoutTls = new Set<string>();

function serverKey(target: DbTarget): string {
  return `${target.host}:${target.port}`;
}

/** A wrong password, a missing database or an unreachable (or silent) server fail the same way with or without TLS. */
function worthAnotherAttempt(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  if (code === '28P01' || code === '3D000' || (code !== undefined && UNREACHABLE.has(code))) return false;
  return !errorMessage(error).startsWith(CONNECT_TIMED_OUT);
}

const CONNECT_TIMED_OUT = 'Connection terminated due to connection timeout';

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** Node's codes for a certificate chain that does not lead to a trusted CA, or is out of date. */
const UNTRUSTED_CERTIFICATE = /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_\w+|CERT_\w+|ERR_TLS_CERT_\w+)$/;

export function connectionError(target: DbTarget, error: unknown): Error {
  const where = describeTarget(target);
  const code = (error as { code?: string }).code;
  const mode = sslMode(target);
  const message = errorMessage(error);
  if (message === NO_TLS_ON_SERVER) {
    return new RefusedError(`cannot connect to ${where}: the server does not accept TLS connections, and sslmode=${mode} demands them`, { cause: error });
  }
  if (message.startsWith(CONNECT_TIMED_OUT)) {
    return new RefusedError(`cannot connect to ${where}: no answer within the connect timeout`, { cause: error });
  }
  switch (code) {
    case '28P01':
      return new UsageError(`cannot connect to ${where}: authentication failed for user "${target.user}" (check the password)`, { cause: error });
    case '28000':
      // pg_hba.conf said no, or a client certificate is missing: the server's own words say which.
      return new UsageError(`cannot connect to ${where}: the server refused the login: ${redact(message)}`, { cause: error });
    case '3D000':
      return new UsageError(`cannot connect to ${where}: database "${target.database}" does not exist`, { cause: error });
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return new RefusedError(`cannot connect to ${where}: the server's certificate is not valid for host "${target.host}" (sslmode=${mode}): ${message}`, { cause: error });
    default:
      if (code !== undefined && UNREACHABLE.has(code)) return new RefusedError(`cannot connect to ${where}: server unreachable (${code})`, { cause: error });
      if (code !== undefined && UNTRUSTED_CERTIFICATE.test(code)) {
        const rootCert = target.params.sslrootcert;
        const anchor = rootCert && rootCert !== 'system' ? `sslrootcert ${rootCert}` : "the system's CAs";
        return new RefusedError(`cannot connect to ${where}: the server's certificate is not trusted by ${anchor} (sslmode=${mode}): ${message}`, { cause: error });
      }
      return new RefusedError(`cannot connect to ${where}: ${redact(message)}`, { cause: error });
  }
}

/** Runs `work` with a connected client and always closes it. */
export async function withClient<T>(target: DbTarget, applicationName: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(target, applicationName);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Connects once and disconnects: a clear one-line error before any tool is started against a bad target. */
export async function probeConnection(target: DbTarget, applicationName: string): Promise<void> {
  await withClient(target, applicationName, async () => undefined);
}

/** Quotes an identifier for SQL. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

import pg from 'pg';
import { RefusedError, UsageError, errorMessage } from '../errors.js';
import { redact } from '../util/redact.js';
import { clientConfig, describeTarget, type DbTarget } from './target.js';

export type Client = pg.Client;

/**
 * Opens a client, or fails with one clear line: a wrong password or a missing database is a
 * configuration error (exit 2), a server that cannot be reached is a preflight refusal (exit 3).
 */
export async function connect(target: DbTarget, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(target, applicationName));
  // A server that goes away later must not crash the process through an unhandled 'error' event.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw connectionError(target, error);
  }
}

export function connectionError(target: DbTarget, error: unknown): Error {
  const where = describeTarget(target);
  const code = (error as { code?: string }).code;
  switch (code) {
    case '28P01':
    case '28000':
      return new UsageError(`cannot connect to ${where}: authentication failed for user "${target.user}" (check the password)`, { cause: error });
    case '3D000':
      return new UsageError(`cannot connect to ${where}: database "${target.database}" does not exist`, { cause: error });
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return new RefusedError(`cannot connect to ${where}: server unreachable (${code})`, { cause: error });
    default:
      return new RefusedError(`cannot connect to ${where}: ${redact(errorMessage(error))}`, { cause: error });
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

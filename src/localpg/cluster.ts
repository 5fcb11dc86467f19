import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { RefusedError } from '../errors.js';

/**
 * A throwaway PostgreSQL cluster in a temporary directory, for the test suite and `orchestrate demo`:
 * initdb with scram-sha-256 auth, a free loopback port, started as the `postgres` OS user when we run
 * as root (the server refuses to run as root).
 */
export interface LocalCluster {
  /** Superuser URL, password included: keep it away from logs. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly binDir: string;
  stop(): Promise<void>;
}

/** Finds initdb/pg_ctl: $ORCHESTRATE_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin, else PATH. */
export function findServerBinDir(): string | undefined {
  const explicit = process.env.ORCHESTRATE_PG_BINDIR;
  if (explicit && existsSync(path.join(explicit, 'initdb'))) return explicit;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((entry) => existsSync(path.join(root, entry, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(root, versions[0], 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface OsUser {
  readonly uid: number;
  readonly gid: number;
}

function postgresOsUser(): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  if (!line) throw new RefusedError('running as root but there is no "postgres" OS user to run the server as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export interface StartOptions {
  /** Superuser password; random when omitted. */
  readonly password?: string;
  /** Extra server settings (-c name=value). */
  readonly settings?: Readonly<Record<string, string>>;
}

export async function startLocalCluster(options: StartOptions = {}): Promise<LocalCluster> {
  const binDir = findServerBinDir();
  if (!binDir) {
    throw new RefusedError('no PostgreSQL server binaries found (initdb, pg_ctl)', {
      hint: 'install them (Debian: apt-get install postgresql) or set ORCHESTRATE_PG_BINDIR',
    });
  }
  const user = postgresOsUser();
  const asServerUser = user ? { uid: user.uid, gid: user.gid } : {};
  const baseDir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-pg-'));
  const dataDir = path.join(baseDir, 'data');
  const socketDir = path.join(baseDir, 'socket');
  const password = options.password ?? randomBytes(12).toString('hex');
  const passwordFile = path.join(baseDir, 'pwfile');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (user) {
    chownSync(baseDir, user.uid, user.gid);
    chownSync(passwordFile, user.uid, user.gid);
  }
  chmodSync(baseDir, 0o700);
  const port = await freePort();
  const stop = async () => {
    await execa(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop'], { ...asServerUser, reject: false });
    rmSync(baseDir, { recursive: true, force: true });
  };
  try {
    await execa(
      path.join(binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${passwordFile}`, '-E', 'UTF8', '--locale=C', '--no-sync'],
      asServerUser,
    );
    rmSync(passwordFile);
    await execa(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', 'stop'], { ...asServerUser, reject: false });
    const serverSettings: Record<string, string> = {
      listen_addresses: "'127.0.0.1'",
      port: String(port),
      unix_socket_directories: `'${socketDir}'`,
      // Throwaway data: durability is not worth the time here.
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '200',
      ...options.settings,
    };
    writeFileSync(
      path.join(dataDir, 'postgresql.auto.conf'),
      Object.entries(serverSettings)
        .map(([key, value]) => `${key} = ${value}`)
        .join('\n') + '\n',
    );
    if (user) chownSync(path.join(dataDir, 'postgresql.auto.conf'), user.uid, user.gid);
    mkdirSync(socketDir, { mode: 0o700 });
    if (user) chownSync(socketDir, user.uid, user.gid);
    await execa(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-l', path.join(baseDir, 'server.log'), '-w', '-t', '60', 'start'], asServerUser);
  } catch (error) {
    await stop().catch(() => undefined);
    throw new RefusedError(`could not start a local PostgreSQL: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, { cause: error });
  }
  return {
    url: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    binDir,
    stop,
  };
}

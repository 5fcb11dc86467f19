import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/client.js';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { startLocalCluster, type LocalCluster } from '../../src/localpg/cluster.js';
import { runCli, type CliResult } from '../harness/cli.js';
import { adminUrl } from '../harness/db.js';
import { makeProject } from '../harness/project.js';

/**
 * orchestrate's own connections follow libpq's sslmode, against a real server with TLS on: a throwaway
 * CA signs a server certificate for DNS:localhost only, and a second, unrelated CA plays the wrong one.
 */
let certDir: string;
let cluster: LocalCluster;
let password: string;

const DATABASE = 'tls_app';
/** Logins by client certificate only. */
const CERT_DATABASE = 'tls_cert';
/** Refuses connections in the clear. */
const TLS_ONLY_DATABASE = 'tls_only';

async function openssl(...args: string[]): Promise<void> {
  await execa('openssl', args, { cwd: certDir });
}

async function makeCertificates(): Promise<void> {
  certDir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-tls-'));
  for (const ca of ['ca', 'other-ca']) {
    await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=orchestrate test ${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.crt`);
  }
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(path.join(certDir, 'server.ext'), 'subjectAltName=DNS:localhost\n');
  await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.crt');
  // A client certificate for the postgres role, for cert authentication.
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=postgres', '-keyout', 'client.key', '-out', 'client.csr');
  await openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'client.crt');
  // libpq refuses a client key others can read; the server, a server key.
  chmodSync(path.join(certDir, 'client.key'), 0o600);
  // The server reads its key and certificate as the postgres OS user and refuses a key others can read.
  chmodSync(path.join(certDir, 'server.key'), 0o600);
  chmodSync(certDir, 0o755);
  if (process.getuid?.() === 0) {
    const [, , uid, gid] = (readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith('postgres:')) ?? '').split(':');
    for (const file of ['server.key', 'server.crt']) chownSync(path.join(certDir, file), Number(uid), Number(gid));
  }
}

function tlsUrl(host: string, query: Record<string, string>, database = DATABASE): string {
  const params = new URLSearchParams(query).toString();
  return `postgresql://postgres:${encodeURIComponent(password)}@${host}:${cluster.port}/${database}${params ? `?${params}` : ''}`;
}

const cert = (name: string) => path.join(certDir, name);

function cli(url: string, ...args: string[]): Promise<CliResult> {
  const project = makeProject('alembic-project');
  return runCli(args, { cwd: project.dir, env: { DATABASE_URL: url } });
}

/** Whether orchestrate's own connection (src/db/client.ts) ends up encrypted. */
async function ownConnectionUsesTls(url: string): Promise<boolean> {
  const client = await connect(parseDatabaseUrl(url), 'tls-test');
  try {
    const { rows } = await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return rows[0]?.ssl ?? false;
  } finally {
    await client.end();
  }
}

function expectOneLine(result: CliResult, pattern: RegExp): void {
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/warning/i);
}

beforeAll(async () => {
  await makeCertificates();
  password = 'tls-test-pw-41c7';
  cluster = await startLocalCluster({
    password,
    settings: { ssl: 'on', ssl_cert_file: `'${cert('server.crt')}'`, ssl_key_file: `'${cert('server.key')}'`, ssl_ca_file: `'${cert('ca.crt')}'` },
  });
  const hba = path.join(cluster.dataDir, 'pg_hba.conf');
  writeFileSync(hba, `hostssl ${CERT_DATABASE} all 127.0.0.1/32 cert\nhostnossl ${TLS_ONLY_DATABASE} all 127.0.0.1/32 reject\n${readFileSync(hba, 'utf8')}`);
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  for (const database of [DATABASE, CERT_DATABASE, TLS_ONLY_DATABASE]) await admin.query(`CREATE DATABASE ${database}`);
  await admin.query('SELECT pg_reload_conf()');
  await admin.end();
});

afterAll(async () => {
  await cluster?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('sslmode against a server with TLS on', () => {
  const verifyFull = () => tlsUrl('localhost', { sslmode: 'verify-full', sslrootcert: cert('ca.crt') });

  it('verify-full with the right CA: every command that connects works, a real upgrade included', async () => {
    const project = makeProject('alembic-project');
    const run = (...args: string[]) => runCli(args, { cwd: project.dir, env: { DATABASE_URL: verifyFull() } });
    const check = await run('check');
    expect(check.exitCode, check.stderr).toBe(8);
    for (const args of [['current'], ['history'], ['lint'], ['validate'], ['backup'], ['upgrade', '--dry-run', '--yes']]) {
      const result = await run(...args);
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    }
    const upgrade = await run('upgrade', '--yes');
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    const after = await run('check');
    expect(after.exitCode, after.stderr).toBe(0);
    expect(await ownConnectionUsesTls(verifyFull())).toBe(true);
  });

  it('verify-full refuses a host name the certificate does not carry, in one line (exit 3)', async () => {
    const result = await cli(tlsUrl('127.0.0.1', { sslmode: 'verify-full', sslrootcert: cert('ca.crt') }), 'current');
    expect(result.exitCode).toBe(3);
    expectOneLine(result, /certificate is not valid for host "127\.0\.0\.1" \(sslmode=verify-full\)/);
  });

  it('verify-full and verify-ca refuse a certificate from another CA, in one line (exit 3)', async () => {
    for (const sslmode of ['verify-full', 'verify-ca']) {
      const result = await cli(tlsUrl('localhost', { sslmode, sslrootcert: cert('other-ca.crt') }), 'current');
      expect(result.exitCode, sslmode).toBe(3);
      expectOneLine(result, new RegExp(`certificate is not trusted by sslrootcert .*other-ca\\.crt \\(sslmode=${sslmode}\\)`));
    }
  });

  it('verify-ca checks the chain but not the host name', async () => {
    expect(await ownConnectionUsesTls(tlsUrl('127.0.0.1', { sslmode: 'verify-ca', sslrootcert: cert('ca.crt') }))).toBe(true);
  });

  it('require encrypts without verifying, unless sslrootcert is given (then as verify-ca)', async () => {
    expect(await ownConnectionUsesTls(tlsUrl('127.0.0.1', { sslmode: 'require' }))).toBe(true);
    await expect(ownConnectionUsesTls(tlsUrl('localhost', { sslmode: 'require', sslrootcert: cert('other-ca.crt') }))).rejects.toThrow(/not trusted/);
  });

  it('prefer and the default use TLS when the server offers it; allow and disable do not', async () => {
    expect(await ownConnectionUsesTls(tlsUrl('127.0.0.1', { sslmode: 'prefer' }))).toBe(true);
    expect(await ownConnectionUsesTls(tlsUrl('127.0.0.1', {}))).toBe(true);
    expect(await ownConnectionUsesTls(tlsUrl('127.0.0.1', { sslmode: 'allow' }))).toBe(false);
    expect(await ownConnectionUsesTls(tlsUrl('127.0.0.1', { sslmode: 'disable' }))).toBe(false);
  });

  it('allow falls back to TLS when the server refuses the clear', async () => {
    expect(await ownConnectionUsesTls(tlsUrl('127.0.0.1', { sslmode: 'allow' }, TLS_ONLY_DATABASE))).toBe(true);
    await expect(ownConnectionUsesTls(tlsUrl('127.0.0.1', { sslmode: 'disable' }, TLS_ONLY_DATABASE))).rejects.toThrow(/pg_hba\.conf rejects connection/);
  });

  it('sslcert and sslkey reach orchestrate and the tool: a client-certificate login works', async () => {
    const withCert = tlsUrl('localhost', { sslmode: 'verify-full', sslrootcert: cert('ca.crt'), sslcert: cert('client.crt'), sslkey: cert('client.key') }, CERT_DATABASE);
    const result = await cli(withCert.replace(`:${encodeURIComponent(password)}@`, '@'), 'current');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('base');
    const without = await cli(tlsUrl('localhost', { sslmode: 'verify-full', sslrootcert: cert('ca.crt') }, CERT_DATABASE), 'current');
    expect(without.exitCode).toBe(2);
    expectOneLine(without, /connection requires a valid client certificate/);
  });

  it("libpq's default root certificate, ~/.postgresql/root.crt, serves orchestrate and the tool alike", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-home-'));
    mkdirSync(path.join(home, '.postgresql'));
    copyFileSync(cert('ca.crt'), path.join(home, '.postgresql', 'root.crt'));
    const project = makeProject('alembic-project');
    const result = await runCli(['current'], { cwd: project.dir, env: { DATABASE_URL: tlsUrl('localhost', { sslmode: 'verify-full' }), HOME: home } });
    expect(result.exitCode, result.stderr).toBe(0);
    rmSync(home, { recursive: true, force: true });
  });

  it("sslrootcert=system trusts the system's CAs only: a privately signed certificate is refused (exit 3)", async () => {
    const result = await cli(tlsUrl('localhost', { sslrootcert: 'system' }), 'current');
    expect(result.exitCode).toBe(3);
    expectOneLine(result, /certificate is not trusted by the system's CAs \(sslmode=verify-full\)/);
  });

  it('a missing sslrootcert file is a configuration error (exit 2), in one line', async () => {
    const result = await cli(tlsUrl('localhost', { sslmode: 'verify-full', sslrootcert: cert('missing.crt') }), 'current');
    expect(result.exitCode).toBe(2);
    expectOneLine(result, /cannot read .*missing\.crt named in the database URL \(ENOENT\)/);
  });
});

describe('sslmode against a server without TLS', () => {
  const plainUrl = (sslmode: string) => {
    const url = new URL(adminUrl());
    url.searchParams.set('sslmode', sslmode);
    return url.toString();
  };

  it('require is refused in one line (exit 3), with no Node warning', async () => {
    const result = await cli(plainUrl('require'), 'current');
    expect(result.exitCode).toBe(3);
    expectOneLine(result, /the server does not accept TLS connections, and sslmode=require demands them/);
  });

  it('prefer falls back to a plain connection, for orchestrate and for the tool', async () => {
    expect(await ownConnectionUsesTls(plainUrl('prefer'))).toBe(false);
    const result = await cli(plainUrl('prefer'), 'current');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
  });
});

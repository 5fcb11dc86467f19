import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientConfig, libpqEnv, OWN_SESSION_LIMITS, parseDatabaseUrl, tlsAttempts } from '../../src/db/target.js';
import { UsageError } from '../../src/errors.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-target-'));
const rootCert = path.join(dir, 'root.crt');
writeFileSync(rootCert, '-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n');

const target = (query: string, env: NodeJS.ProcessEnv = {}) => parseDatabaseUrl(`postgresql://u:pw-123456@db.example:5432/app${query}`, undefined, env);

describe('sslmode, as libpq reads it', () => {
  it('takes the URL, else PGSSLMODE/PGSSLROOTCERT, and hands the same to the tools', () => {
    expect(target('?sslmode=require', { PGSSLMODE: 'disable' }).params.sslmode).toBe('require');
    const fromEnv = target('', { PGSSLMODE: 'verify-full', PGSSLROOTCERT: rootCert });
    expect(fromEnv.params).toEqual({ sslmode: 'verify-full', sslrootcert: rootCert });
    expect(libpqEnv(fromEnv, { applicationName: 'a' })).toMatchObject({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: rootCert });
  });

  it('makes the attempts libpq makes: prefer (the default) TLS then plain, allow plain then TLS', () => {
    expect(tlsAttempts(target(''))).toEqual([{ rejectUnauthorized: false }, false]);
    expect(tlsAttempts(target('?sslmode=prefer'))).toEqual([{ rejectUnauthorized: false }, false]);
    expect(tlsAttempts(target('?sslmode=allow'))).toEqual([false, { rejectUnauthorized: false }]);
    expect(tlsAttempts(target('?sslmode=disable'))).toEqual([false]);
    expect(tlsAttempts(target('?sslmode=require'))).toEqual([{ rejectUnauthorized: false }]);
  });

  it('verifies what libpq verifies: verify-full chain and host, verify-ca and require-with-a-root-CA the chain only', () => {
    const [full] = tlsAttempts(target(`?sslmode=verify-full&sslrootcert=${rootCert}`));
    expect(full).toMatchObject({ ca: expect.stringContaining('BEGIN CERTIFICATE') });
    expect(full && full.rejectUnauthorized).not.toBe(false);
    expect(full && full.checkServerIdentity).toBeUndefined();
    for (const mode of ['verify-ca', 'require']) {
      const [attempt] = tlsAttempts(target(`?sslmode=${mode}&sslrootcert=${rootCert}`));
      expect(attempt && attempt.rejectUnauthorized, mode).not.toBe(false);
      expect(attempt && attempt.checkServerIdentity, mode).toBeTypeOf('function');
    }
  });

  it("applies libpq's defaults: ~/.postgresql/root.crt when it exists, verify-full with sslrootcert=system", () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-home-'));
    expect(() => target('?sslmode=verify-full', { HOME: home })).toThrow(/sslmode=verify-full needs sslrootcert=FILE/);
    mkdirSync(path.join(home, '.postgresql'));
    writeFileSync(path.join(home, '.postgresql', 'root.crt'), readFileSync(rootCert));
    const withDefault = target('?sslmode=verify-full', { HOME: home });
    expect(withDefault.params.sslrootcert).toBe(path.join(home, '.postgresql', 'root.crt'));
    expect(tlsAttempts(withDefault)[0]).toMatchObject({ ca: expect.stringContaining('BEGIN CERTIFICATE') });

    const system = target('?sslrootcert=system');
    expect(system.params.sslmode).toBe('verify-full');
    const [attempt] = tlsAttempts(system);
    expect(attempt).toEqual({});
    expect(() => target('?sslrootcert=system&sslmode=require')).toThrow(/sslrootcert=system needs sslmode=verify-full/);
  });

  it('combines the URL with the environment before judging: verify-ca in the URL, its CA in PGSSLROOTCERT', () => {
    expect(target('?sslmode=verify-ca', { PGSSLROOTCERT: rootCert }).params).toEqual({ sslmode: 'verify-ca', sslrootcert: rootCert });
  });

  it('never uses TLS over a Unix socket', () => {
    expect(tlsAttempts(parseDatabaseUrl('postgresql://u@%2Fvar%2Frun%2Fpostgresql/app?sslmode=require', undefined, {}))).toEqual([false]);
  });

  it('refuses what it cannot honour, as a usage error', () => {
    expect(() => target('?sslmode=verify-ca')).toThrow(/verify-ca needs sslrootcert/);
    expect(() => target('', { PGSSLMODE: 'verify-ca' })).toThrow(/verify-ca needs sslrootcert/);
    expect(() => target('?sslmode=no-verify')).toThrow(UsageError);
    expect(() => target(`?sslmode=verify-full&sslrootcert=${path.join(dir, 'missing.crt')}`)).toThrow(/cannot read .*missing\.crt/);
    expect(() => target('?connect_timeout=0')).toThrow(/connect_timeout "0"/);
    expect(() => target('?uselibpqcompat=true')).toThrow(UsageError);
  });
});

describe("orchestrate's own sessions", () => {
  it('are always bounded: connect timeout (connect_timeout or the default), lock and statement timeouts, a client-side query bound', () => {
    const config = clientConfig(target(''), 'orchestrate/x', false);
    expect(config).toMatchObject({
      ssl: false,
      connectionTimeoutMillis: OWN_SESSION_LIMITS.connectTimeoutMs,
      lock_timeout: OWN_SESSION_LIMITS.lockTimeoutMs,
      statement_timeout: OWN_SESSION_LIMITS.statementTimeoutMs,
      query_timeout: OWN_SESSION_LIMITS.statementTimeoutMs + OWN_SESSION_LIMITS.clientGraceMs,
    });
    expect(clientConfig(target('?connect_timeout=3'), 'orchestrate/x', false).connectionTimeoutMillis).toBe(3000);
  });
});

describe('URLs in error messages', () => {
  it('never quote a password, even one holding @ in a URL that names no database', () => {
    let message = '';
    try {
      parseDatabaseUrl('postgresql://u:Canary5b@Part@db.example', undefined, {});
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/names no database/);
    expect(message).not.toMatch(/Canary5b|Part/);
  });
});

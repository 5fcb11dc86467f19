import { describe, expect, it } from 'vitest';
import { redact, redactDeep, registerSecret } from '../../src/util/redact.js';

describe('redact', () => {
  it('masks the password of a connection URI', () => {
    expect(redact('connecting to postgresql://app:s3cr%40t@db:5432/prod now')).toBe('connecting to postgresql://app:*****@db:5432/prod now');
  });
  it('masks a ?password= parameter and keyword conninfo', () => {
    expect(redact('postgresql://db/prod?sslmode=require&password=hunter22')).toBe('postgresql://db/prod?sslmode=require&password=*****');
    expect(redact('host=db password=hunter22 dbname=prod')).toBe('host=db password=***** dbname=prod');
  });
  it('masks registered secrets wherever they appear', () => {
    registerSecret('canary-XYZ-123');
    expect(redact('FATAL: bad value canary-XYZ-123 in field')).toBe('FATAL: bad value ***** in field');
  });
  it('masks password-named fields and nested strings of objects', () => {
    expect(redactDeep({ password: 'x', nested: ['postgres://u:pw@h/d'] })).toEqual({ password: '*****', nested: ['postgres://u:*****@h/d'] });
  });
});

describe('libpqEnv', () => {
  it('puts the password, the run tag and the session settings in the environment, never a URL with a password', async () => {
    const { libpqEnv } = await import('../../src/db/target.js');
    const env = libpqEnv(
      { host: 'db', port: 5433, database: 'app', user: 'u', password: 'pw-123456', params: { sslmode: 'require' } },
      { applicationName: 'orchestrate/abc', lockTimeoutMs: 5000, connectionCheckIntervalMs: 2000 },
    );
    expect(env).toEqual({
      PGHOST: 'db',
      PGPORT: '5433',
      PGDATABASE: 'app',
      PGUSER: 'u',
      PGPASSWORD: 'pw-123456',
      PGAPPNAME: 'orchestrate/abc',
      PGSSLMODE: 'require',
      PGOPTIONS: '-c lock_timeout=5000 -c client_connection_check_interval=2000',
    });
  });
});

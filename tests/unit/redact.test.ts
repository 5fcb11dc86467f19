import { describe, expect, it } from 'vitest';
import { redact, redactDeep, redactUnparsableUrl, registerSecret } from '../../src/util/redact.js';

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
  it('masks the whole rest of a quoted password that is never closed', () => {
    expect(redact('conninfo password="open secret and more')).toBe('conninfo password=*****');
  });
  it('masks a URI password after a scheme that starts with a digit', () => {
    expect(redact('1postgresql://u:pw-secret@h/db')).toBe('1postgresql://u:*****@h/db');
  });
  it('masks password-named fields and nested strings of objects', () => {
    expect(redactDeep({ password: 'x', nested: ['postgres://u:pw@h/d'] })).toEqual({ password: '*****', nested: ['postgres://u:*****@h/d'] });
  });
});

describe('redactUnparsableUrl', () => {
  // A password holding /, #, ? or @ is what makes a URL unparsable; each shape with a canary.
  const CANARY = 'Canary9x';
  for (const shape of [`${CANARY}/Part`, `${CANARY}#Part`, `${CANARY}?Part`, `${CANARY}@Part`, `a/${CANARY}?b#c@d`]) {
    it(`hides a password like "${shape.replace(CANARY, 'CANARY')}" and keeps host and database`, () => {
      const masked = redactUnparsableUrl(`postgresql://postgres:${shape}@db.internal:5432/app`);
      expect(masked).not.toContain(CANARY);
      expect(masked).not.toContain('Part');
      expect(masked).toBe('postgresql://*****@db.internal:5432/app');
    });
  }
  it('keeps a URL without userinfo as it is', () => {
    expect(redactUnparsableUrl('postgresql://db:notaport/app')).toBe('postgresql://db:notaport/app');
  });
});

describe('redaction cost', () => {
  // Redaction runs on every log line and every tool output: it must stay linear in the text's length.
  const MB = 1 << 20;
  const shapes: Record<string, string> = {
    'one long word': 'a'.repeat(MB),
    'letters and digits': 'a1'.repeat(MB / 2),
    'schemes without hosts': 'a://'.repeat(MB / 4),
    'userinfo without @': `x://${'u:'.repeat(MB / 2)}`,
    'unclosed quoted passwords': ' password="x'.repeat(MB / 12),
    'log lines with URLs': 'step done postgresql://app:hunter22@db/prod?password=abc sslmode=require\n'.repeat(MB / 72),
  };
  for (const [name, text] of Object.entries(shapes)) {
    it(`redacts 1 MB of ${name} in under 50 ms`, () => {
      // The best of three: a shared machine's scheduler can stall any one run, never all three
      // (a quadratic pattern takes minutes here, every time).
      const times = [0, 1, 2].map(() => {
        const started = performance.now();
        redact(text);
        return performance.now() - started;
      });
      expect(Math.min(...times)).toBeLessThan(50);
    });
  }
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

import { describe, expect, it } from 'vitest';
import { createDatabaseSql, siblingName } from '../../src/backup/databases.js';
import { formatBytes, startProgress } from '../../src/backup/progress.js';
import { pgDumpArgs, parseToolVersion } from '../../src/exec/pgDump.js';
import { pgRestoreArgs } from '../../src/exec/pgRestore.js';
import type { DbTarget } from '../../src/db/target.js';
import pino from 'pino';

const target: DbTarget = { host: 'db', port: 5432, database: "we'ird=db", user: 'app', password: 'hunter2-secret', params: {} };

describe('pg_dump and pg_restore argv', () => {
  it('pg_dump: format, compression, lock wait timeout, parallel jobs only for the directory format, no credentials', () => {
    expect(pgDumpArgs({ format: 'custom', output: '/b/.x.partial', compressionLevel: 1, jobs: 4, lockWaitTimeoutMs: 30000 })).toEqual([
      '--format=custom',
      '--file=/b/.x.partial',
      '--compress=1',
      '--lock-wait-timeout=30000',
      '--no-password',
      '--verbose',
    ]);
    expect(pgDumpArgs({ format: 'directory', output: '/b/.d', compressionLevel: 0, jobs: 4, lockWaitTimeoutMs: 5 })).toContain('--jobs=4');
  });

  it('pg_restore: never --create; stops on the first error; the database name cannot turn into a connection string', () => {
    const args = pgRestoreArgs({ target, archive: '/b/a.dump', jobs: 2, noOwner: true });
    expect(args).not.toContain('--create');
    expect(args).not.toContain('-C');
    expect(args).toEqual([`--dbname=dbname='we\\'ird=db'`, '--exit-on-error', '--jobs=2', '--no-owner', '--no-acl', '--no-password', '--verbose', '/b/a.dump']);
    expect(args.join(' ')).not.toContain('hunter2');
    expect(pgRestoreArgs({ target, archive: 'a', jobs: 1, noOwner: false })).not.toContain('--no-owner');
  });

  it('parses tool versions, including the pre-10 numbering', () => {
    expect(parseToolVersion('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).toEqual({ version: '15.18', major: 15 });
    expect(parseToolVersion('pg_dump (PostgreSQL) 9.6.24')).toEqual({ version: '9.6', major: 9.6 });
    expect(parseToolVersion('pg_restore (PostgreSQL) 17devel')).toEqual({ version: '17', major: 17 });
    expect(parseToolVersion('something else')).toBeUndefined();
  });
});

describe('database names and creation', () => {
  it('sibling names fit the 63-byte identifier limit', () => {
    const name = siblingName('é'.repeat(40), 'restoring');
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(name).toMatch(/_restoring_[0-9a-f]{6}$/);
  });

  it('creates from template0 with the source encoding and locale, quoting literals', () => {
    expect(createDatabaseSql('x"y', { encoding: 'UTF8', collate: "it's", ctype: 'C', localeProvider: 'c' })).toBe(
      `CREATE DATABASE "x""y" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'it''s' LC_CTYPE 'C'`,
    );
    expect(createDatabaseSql('x', { encoding: 'UTF8', collate: 'C', ctype: 'C', localeProvider: 'i', iculocale: 'und' })).toContain(`LOCALE_PROVIDER icu ICU_LOCALE 'und'`);
  });
});

describe('progress', () => {
  function capture() {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push((JSON.parse(line) as { msg: string }).msg) });
    return { lines, logger };
  }

  it('on a terminal: one line redrawn in place, finished with a newline, nothing logged', () => {
    const { lines, logger } = capture();
    let clock = 0;
    const written: string[] = [];
    const progress = startProgress({ logger, label: 'restore', unit: 'items', total: 10, intervalMs: 10_000, stream: { isTTY: true, write: (text: string) => written.push(text) > 0 }, now: () => clock });
    for (let done = 1; done <= 10; done += 1) {
      clock += 300;
      progress.update(done);
    }
    progress.finish();
    expect(written.every((text) => text.startsWith('\r\x1b[K'))).toBe(true);
    expect(written.at(-1)).toBe('\r\x1b[Krestore: 10 of 10 items (100%), 3s\n');
    expect(lines).toEqual([]);
  });

  it('elsewhere: a plain log line per interval, bytes against the estimate', () => {
    const { lines, logger } = capture();
    let clock = 0;
    const progress = startProgress({ logger, label: 'dump', unit: 'bytes', total: 5_000_000, totalIsEstimate: true, intervalMs: 1000, stream: { isTTY: false, write: () => true }, now: () => clock });
    for (let step = 1; step <= 10; step += 1) {
      clock += 250;
      progress.update(step * 100_000);
    }
    progress.finish();
    expect(lines).toEqual(['dump: 400.0 kB written (estimate at most 5.0 MB), 1s', 'dump: 800.0 kB written (estimate at most 5.0 MB), 2s']);
  });

  it('formats bytes', () => {
    expect([formatBytes(999), formatBytes(1500), formatBytes(2_500_000_000)]).toEqual(['999 B', '1.5 kB', '2.5 GB']);
  });
});

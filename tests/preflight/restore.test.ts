import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { runPgDump } from '../../src/exec/pgDump.js';
import { createTestDatabase, withAdmin, type TestDatabase } from '../harness/db.js';
import { check, createLoginRole, named, type LoginRole } from './helpers.js';

const UNTRUSTED_CANDIDATES = ['dblink', 'pageinspect', 'pg_buffercache'];

describe('restore:non-superuser', () => {
  let db: TestDatabase;
  let role: LoginRole;
  let untrusted: string;
  let archive: string;

  beforeAll(async () => {
    db = await createTestDatabase('pf_rest');
    role = await createLoginRole([db.name]);
    untrusted = await withAdmin(async (client) => {
      const { rows } = await client.query<{ name: string }>(
        `SELECT e.name FROM pg_available_extensions e JOIN pg_available_extension_versions v ON v.name = e.name AND v.version = e.default_version
          WHERE e.name = ANY($1) AND v.superuser AND NOT v.trusted ORDER BY array_position($1, e.name) LIMIT 1`,
        [UNTRUSTED_CANDIDATES],
      );
      return rows[0]?.name ?? '';
    });
    expect(untrusted, 'the test server ships none of the contrib extensions this test uses').not.toBe('');
    await db.query(`
      CREATE TABLE t (id int PRIMARY KEY);
      CREATE EXTENSION hstore;
      CREATE EXTENSION ${untrusted};
      CREATE FUNCTION server_now() RETURNS timestamptz LANGUAGE internal AS 'now';
      CREATE FUNCTION plain_sql(a int, b text) RETURNS int LANGUAGE sql AS 'SELECT 1';
      CREATE FUNCTION audit_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
      CREATE EVENT TRIGGER pf_audit ON ddl_command_end EXECUTE FUNCTION audit_ddl();`);

    archive = path.join(mkdtempSync(path.join(os.tmpdir(), 'orchestrate-pfarchive-')), 'dump.pgcustom');
    const dump = await runPgDump({ program: 'pg_dump', target: parseDatabaseUrl(db.url), applicationName: 'pf-dump', format: 'custom', output: archive, compressionLevel: 1, jobs: 1, lockWaitTimeoutMs: 10_000 });
    expect(dump.ok, dump.stderr).toBe(true);
  });
  afterAll(async () => {
    await db.drop();
    await role.drop();
  });

  it('checked as a non-superuser from the live catalogs: warns naming the event trigger, the untrusted extension and the untrusted-language function', async () => {
    const result = named(await check(role.target(db.name)), 'restore:non-superuser');
    expect(result.status).toBe('warn');
    expect(result.detail).toContain(`role ${role.name} on ${parseDatabaseUrl(db.url).host}:`);
    expect(result.detail).toContain('is not a superuser');
    expect(result.detail).toContain('(read from its live catalogs)');
    expect(result.detail).toContain('event trigger pf_audit');
    expect(result.detail).toContain(`extension ${untrusted} (untrusted: needs a superuser)`);
    expect(result.detail).toContain('function public.server_now() (language internal, untrusted)');
    expect(result.detail).toContain('cannot recreate 3 objects');
    // Trusted: a non-superuser may create them.
    expect(result.detail).not.toContain('hstore');
    expect(result.detail).not.toContain('plain_sql');
    expect(result.detail).not.toContain('audit_ddl');
  });

  it('from the archive\'s table of contents when an archive is given: what the backup holds, not what the database holds now', async () => {
    await db.query('DROP EVENT TRIGGER pf_audit');
    try {
      const live = named(await check(role.target(db.name)), 'restore:non-superuser');
      expect(live.detail).not.toContain('pf_audit');

      const fromArchive = named(await check(role.target(db.name), { archive }), 'restore:non-superuser');
      expect(fromArchive.status).toBe('warn');
      expect(fromArchive.detail).toContain('so a restore of the archive dump.pgcustom cannot recreate 3 objects');
      expect(fromArchive.detail).toContain('event trigger pf_audit');
      expect(fromArchive.detail).toContain(`extension ${untrusted} (untrusted: needs a superuser)`);
      expect(fromArchive.detail).toContain('function public.server_now() (language internal, untrusted)');
      expect(fromArchive.detail).not.toContain('hstore');
      expect(fromArchive.detail).not.toContain('plain_sql');
    } finally {
      await db.query('CREATE EVENT TRIGGER pf_audit ON ddl_command_end EXECUTE FUNCTION audit_ddl()');
    }
  });

  it('an archive pg_restore cannot read: a warning that says so, then the live catalogs', async () => {
    const broken = path.join(mkdtempSync(path.join(os.tmpdir(), 'orchestrate-pfarchive-')), 'broken.pgcustom');
    writeFileSync(broken, 'PGDMP but not really');
    const result = named(await check(role.target(db.name), { archive: broken }), 'restore:non-superuser');
    expect(result.status).toBe('warn');
    expect(result.detail).toMatch(/^could not read the archive broken\.pgcustom \(.*pg_restore --list .* failed: .*\), checked the live catalogs instead; /);
    expect(result.detail).toContain('event trigger pf_audit');
  });

  it('passes when the restoring role is a superuser', async () => {
    const result = named(await check(parseDatabaseUrl(db.url), { archive }), 'restore:non-superuser');
    expect(result.status).toBe('pass');
    expect(result.detail).toMatch(/^restores run as a superuser \(\w+\): every object can be recreated$/);
  });

  it('passes for a non-superuser when nothing needs a superuser', async () => {
    const clean = await createTestDatabase('pf_rest_ok');
    try {
      await clean.query('CREATE TABLE t (id int); CREATE EXTENSION hstore');
      await withAdmin((client) => client.query(`GRANT CONNECT ON DATABASE "${clean.name}" TO ${role.name}`));
      const result = named(await check(role.target(clean.name)), 'restore:non-superuser');
      expect(result).toMatchObject({ status: 'pass', detail: expect.stringContaining('nothing in database') });
    } finally {
      await clean.drop();
    }
  });
});

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup, replaceDatabase, restoreIntoNewDatabase, restoringIntoSource, type BackupManifest } from '../../src/backup/index.js';
import { parseDatabaseUrl, withDatabase } from '../../src/db/target.js';
import { RefusedError } from '../../src/errors.js';
import { readJournals } from '../../src/pipeline/journal.js';
import { runLockKey } from '../../src/pipeline/runLock.js';
import { readAudit } from '../../src/report/audit.js';
import { createTestDatabase, databaseExists, urlFor, withAdmin, type TestDatabase } from '../harness/db.js';
import { startCli } from '../harness/cli.js';
import { cliIn, contextFor, databaseNames, json, makeStore, schemaDump, tableContents } from './helpers.js';

const extra: string[] = [];
afterAll(async () => {
  await withAdmin(async (client) => {
    for (const name of extra) await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
});

async function seeded(prefix: string, rows: number): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  extra.push(db.name);
  await db.query(`CREATE TABLE items (id int PRIMARY KEY, label text); INSERT INTO items SELECT i, '${prefix}-' || i FROM generate_series(1, ${rows}) i;
                  CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) SELECT md5(i::text) FROM generate_series(1, ${rows * 2}) i;`);
  return db;
}

describe('restore over an existing database', () => {
  let a: TestDatabase;
  let b: TestDatabase;
  let dir: string;
  let backupOfA: BackupManifest;

  beforeAll(async () => {
    a = await seeded('bk_a', 1500);
    b = await seeded('bk_b', 700);
    dir = makeStore();
    const made = await cliIn(dir, a.url)('backup', '--json');
    expect(made.exitCode, made.stderr).toBe(0);
    backupOfA = json<{ backup: BackupManifest }>(made).backup;
  });

  it('without --yes and without a terminal: exit 3, reports the rows, changes nothing', async () => {
    const before = await tableContents(b.name);
    const result = await cliIn(dir, a.url)('restore', backupOfA.id, '--into', b.name);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(`replaces 2100 rows in 2 tables: pass --yes to confirm`);
    expect(await tableContents(b.name)).toEqual(before);
    const list = json<{ backups: BackupManifest[] }>(await cliIn(dir, a.url)('backups', 'list', '--json'));
    expect(list.backups.map((m) => m.id)).toEqual([backupOfA.id]);
  });

  it('while a migration holds the run lock on B: exit 4, B unchanged, no pre-restore backup', async () => {
    const before = await tableContents(b.name);
    const holder = new pg.Client({ connectionString: b.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1::bigint)', [runLockKey(b.name).toString()]);
      const result = await cliIn(dir, a.url)('restore', backupOfA.id, '--into', b.name, '--yes');
      expect(result.exitCode).toBe(4);
    } finally {
      await holder.end();
    }
    expect(await tableContents(b.name)).toEqual(before);
    expect(json<{ backups: BackupManifest[] }>(await cliIn(dir, a.url)('backups', 'list', '--json')).backups).toHaveLength(1);
  });

  it("restores A's backup into B: B gets A's rows, A is untouched, B's old state is kept in a verified pre-restore backup", async () => {
    const aBefore = await tableContents(a.name);
    const bBefore = await tableContents(b.name);
    // A changes after the backup: the restore must copy the backup, and must not touch A.
    await a.query(`INSERT INTO items VALUES (100000, 'after the backup')`);
    const aNow = await tableContents(a.name);

    const result = await cliIn(dir, a.url)('restore', backupOfA.id, '--into', b.name, '--yes', '--json');
    expect(result.exitCode, result.stderr).toBe(0);
    const report = json<{ replaced: boolean; preRestoreBackup: string; rowsReplaced: { schema: string; name: string; rows: number; exact: boolean }[] }>(result);
    expect(report.replaced).toBe(true);
    expect(report.rowsReplaced).toEqual([
      { schema: 'public', name: 'items', rows: 700, exact: true },
      { schema: 'public', name: 'notes', rows: 1400, exact: true },
    ]);

    expect(await tableContents(a.name)).toEqual(aNow);
    expect(await tableContents(b.name)).toEqual(aBefore);
    expect((await databaseNames()).filter((name) => name.startsWith(`${b.name}_`))).toEqual([]);

    const pre = json<BackupManifest>(await cliIn(dir, a.url)('backups', 'show', report.preRestoreBackup, '--json'));
    expect(pre).toMatchObject({ reason: 'pre-restore', verification: { ok: true } });
    expect(pre.database).toMatch(new RegExp(`/${b.name}$`));
    const back = `${b.name}_back`;
    extra.push(back);
    expect((await cliIn(dir, a.url)('restore', pre.id, '--into', back)).exitCode).toBe(0);
    expect(await tableContents(back)).toEqual(bBefore);

    const journal = readJournals(`${dir}/reports`).find((j) => j.backupId === pre.id);
    expect(journal).toMatchObject({ command: 'restore', status: 'succeeded' });
    expect(readAudit(`${dir}/reports`).find((entry) => entry.outcome === 'replaced')).toMatchObject({ command: 'restore', outcome: 'replaced', exitCode: 0, database: b.name, backupId: pre.id });
  });

  it('refuses to restore into the source database unless --allow-source; with it, the source returns to the backup', async () => {
    const aNow = await tableContents(a.name);
    const refused = await cliIn(dir, a.url)('restore', backupOfA.id, '--yes');
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toContain(`was taken from database "${a.name}" on this server`);
    expect(await tableContents(a.name)).toEqual(aNow);

    // The same server under another host name is still the source.
    const otherName = new URL(a.url);
    otherName.hostname = otherName.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
    expect((await cliIn(dir, otherName.toString())('restore', backupOfA.id, '--yes')).exitCode).toBe(3);

    const kept = `${a.name}_old`;
    extra.push(kept);
    const allowed = await cliIn(dir, a.url)('restore', backupOfA.id, '--yes', '--allow-source', '--keep-replaced-as', kept);
    expect(allowed.exitCode, allowed.stderr).toBe(0);
    expect((await tableContents(a.name))['public.items']?.rows).toBe(1500);
    expect((await tableContents(kept))['public.items']?.rows).toBe(1501);
  });
});

/** pg_database's row version of `name`: a rename rewrites it, a rolled-back rename does not. */
async function catalogRowVersion(name: string): Promise<string | undefined> {
  return withAdmin(async (client) => (await client.query<{ xmin: string }>('SELECT xmin::text AS xmin FROM pg_database WHERE datname = $1', [name])).rows[0]?.xmin);
}

describe('the swap is one transaction', () => {
  it('both renames commit together: the kept original and the restored copy carry the same transaction id', async () => {
    const source = await seeded('bk_swap', 50);
    const context = contextFor(makeStore(), source.url);
    const target = parseDatabaseUrl(source.url);
    const manifest = await createBackup(context, target, { reason: 'manual', revision: null });
    const kept = `${source.name}_kept`;
    extra.push(kept);
    await replaceDatabase(context, manifest.id, target, { keepReplacedAs: kept });
    const [replaced, restored] = [await catalogRowVersion(kept), await catalogRowVersion(source.name)];
    expect(replaced).toBeDefined();
    expect(restored).toBe(replaced);
  });

  it('a second rename that fails undoes the first: the target keeps its name and its catalog row was never rewritten', async () => {
    const source = await seeded('bk_swapfail', 50);
    const context = contextFor(makeStore(), source.url);
    const target = parseDatabaseUrl(source.url);
    const manifest = await createBackup(context, target, { reason: 'manual', revision: null });
    await source.query('DELETE FROM items WHERE id > 10');
    const schemaBefore = await schemaDump(source.name);
    const rowsBefore = await tableContents(source.name);
    const versionBefore = await catalogRowVersion(source.name);
    await expect(
      replaceDatabase(context, manifest.id, target, {
        // The copy vanishes between the two renames' preparation and the swap: the second rename must fail.
        beforeSwap: (restored) => withAdmin((client) => client.query(`DROP DATABASE "${restored.database}" WITH (FORCE)`)).then(() => undefined),
      }),
    ).rejects.toThrow(/nothing was renamed/);
    expect(await catalogRowVersion(source.name)).toBe(versionBefore);
    expect(await schemaDump(source.name)).toBe(schemaBefore);
    expect(await tableContents(source.name)).toEqual(rowsBefore);
    expect((await databaseNames()).filter((name) => name.startsWith(`${source.name}_`))).toEqual([]);
  });
});

/**
 * A backup whose restore takes about `seconds`: an index on a function that sleeps 10 ms per row in
 * any database but the source, built by pg_restore after the data, so a signal arrives while it works.
 */
async function slowToRestore(dir: string, seconds: number): Promise<{ source: TestDatabase; id: string }> {
  const source = await seeded('bk_slow', 10);
  await source.query(`CREATE FUNCTION slow_key(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
                        BEGIN IF pg_catalog.current_database() <> '${source.name}' THEN PERFORM pg_catalog.pg_sleep(0.01); END IF; RETURN i; END $$;
                      CREATE TABLE slow (id int); INSERT INTO slow SELECT generate_series(1, ${seconds * 100});
                      CREATE INDEX slow_idx ON slow (public.slow_key(id));`);
  const made = await cliIn(dir, source.url)('backup', '--json');
  expect(made.exitCode, made.stderr).toBe(0);
  return { source, id: json<{ backup: BackupManifest }>(made).backup.id };
}

/** Until pg_restore is building the slow index in a database whose name starts with `prefix`. */
async function untilRestoringSlowIndex(prefix: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const busy = await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE starts_with(datname, $1) AND query LIKE 'CREATE INDEX slow_idx%' AND state = 'active'`, [prefix])).rowCount);
    if (busy) return;
    if (Date.now() > deadline) throw new Error('pg_restore never reached the slow index');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * `orchestrate restore` of a slow backup over a seeded database, under way: returned once pg_restore
 * is building the slow index in the restore's copy, with the target's schema and rows before the restore.
 */
async function restoreUnderWay(prefix: string, rows: number) {
  const dir = makeStore();
  const { source, id } = await slowToRestore(dir, 60);
  const target = await seeded(prefix, rows);
  const schemaBefore = await schemaDump(target.name);
  const rowsBefore = await tableContents(target.name);
  const run = startCli(['restore', id, '--into', target.name, '--yes'], { cwd: dir, env: { DATABASE_URL: source.url } });
  await untilRestoringSlowIndex(`${target.name}_restore_`);
  return { dir, target, schemaBefore, rowsBefore, run };
}

describe('restore stopped by a signal', () => {
  it('SIGINT while pg_restore replaces a database: pg_restore stops, the copy is dropped, the target is untouched, exit 3', async () => {
    const { dir, target, schemaBefore, rowsBefore, run } = await restoreUnderWay('bk_sigint', 200);
    const signalled = Date.now();
    run.kill('SIGINT');
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(3);
    expect(Date.now() - signalled).toBeLessThan(20_000);
    expect(String(result.stderr)).toMatch(/restore interrupted by SIGINT: stopped, the half-restored copy was dropped and "[^"]+" is untouched/);
    expect((await databaseNames()).filter((name) => name.startsWith(`${target.name}_`))).toEqual([]);
    expect(await schemaDump(target.name)).toBe(schemaBefore);
    expect(await tableContents(target.name)).toEqual(rowsBefore);
    const sessions = await withAdmin(async (client) => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE starts_with(datname, $1)`, [`${target.name}_`])).rowCount);
    expect(sessions).toBe(0);
    expect(readJournals(`${dir}/reports`).find((journal) => journal.command === 'restore' && journal.details.database === target.name)).toMatchObject({ status: 'refused', exitCode: 3 });
  });

  it('the lock session is terminated while pg_restore works: the restore stops before the swap, exit 4, the target untouched', async () => {
    const { target, rowsBefore, run } = await restoreUnderWay('bk_locklost', 100);
    const terminated = await withAdmin(async (client) => (await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'orchestrate/%/lock'`, [target.name])).rowCount);
    expect(terminated).toBe(1);
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(4);
    expect(String(result.stderr)).toMatch(/migration lock on database "[^"]+" was lost .*the restore was stopped before the swap/);
    expect((await databaseNames()).filter((name) => name.startsWith(`${target.name}_`))).toEqual([]);
    expect(await tableContents(target.name)).toEqual(rowsBefore);
  });

  it('SIGKILL while pg_restore replaces a database: the next command taking the lock drops the copy, the target untouched', async () => {
    const { dir, target, rowsBefore, run } = await restoreUnderWay('bk_sigkill', 100);
    run.kill('SIGKILL');
    await run.catch(() => undefined);
    const copies = (await databaseNames()).filter((name) => name.startsWith(`${target.name}_restore_`));
    expect(copies).toHaveLength(1);
    // `backup` takes the run lock on the target, so it recovers the dead restore first.
    const next = await cliIn(dir, target.url)('backup');
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toContain(String(copies[0]));
    expect((await databaseNames()).filter((name) => name.startsWith(`${target.name}_`))).toEqual([]);
    expect(await tableContents(target.name)).toEqual(rowsBefore);
  });

  it('SIGTERM while pg_restore fills a new database: the database is dropped, exit 3', async () => {
    const dir = makeStore();
    const { source, id } = await slowToRestore(dir, 60);
    const into = `${source.name}_new`;
    extra.push(into);
    const run = startCli(['restore', id, '--into', into], { cwd: dir, env: { DATABASE_URL: source.url } });
    await untilRestoringSlowIndex(into);
    run.kill('SIGTERM');
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(3);
    expect(String(result.stderr)).toMatch(/restore interrupted by SIGTERM: .*"[^"]+" was not created/);
    expect(await databaseExists(into)).toBe(false);
  });
});

describe('restore as a library', () => {
  it('replaceDatabase: a failing beforeSwap leaves the target untouched and drops the restored copy', async () => {
    const source = await seeded('bk_lib', 300);
    const dir = makeStore();
    const context = contextFor(dir, source.url);
    const target = parseDatabaseUrl(source.url);
    const manifest = await createBackup(context, target, { reason: 'manual', revision: null });
    await source.query(`DELETE FROM items WHERE id > 100`);
    let seen: string | undefined;
    await expect(
      replaceDatabase(context, manifest.id, target, {
        beforeSwap: async (restored) => {
          seen = restored.database;
          expect(restored.database).not.toBe(target.database);
          expect((await tableContents(restored.database))['public.items']?.rows).toBe(300);
          throw new Error('the caller says no');
        },
      }),
    ).rejects.toThrow('the caller says no');
    expect(seen).toBeDefined();
    expect(await databaseExists(seen ?? '')).toBe(false);
    expect((await tableContents(source.name))['public.items']?.rows).toBe(100);

    await replaceDatabase(context, manifest.id, target, {});
    expect((await tableContents(source.name))['public.items']?.rows).toBe(300);
  });

  it('the source is recognised by the server identity under any host name', async () => {
    const source = await seeded('bk_ident', 10);
    const context = contextFor(makeStore(), source.url);
    const target = parseDatabaseUrl(source.url);
    const manifest = await createBackup(context, target, { reason: 'manual', revision: null });
    const elsewhere = { ...manifest, source: { ...manifest.source, host: 'primary.db.internal', port: 6543, database: source.name } };
    expect(await restoringIntoSource(context, elsewhere, target)).toBe(true);
    expect(await restoringIntoSource(context, { ...elsewhere, source: { ...elsewhere.source, systemIdentifier: '1' } }, target)).toBe(false);
    expect(await restoringIntoSource(context, manifest, withDatabase(target, `${source.name}_other`))).toBe(false);
  });

  it('restoreIntoNewDatabase refuses a database that already exists, and never writes into it', async () => {
    const source = await seeded('bk_lib2', 50);
    const other = await seeded('bk_lib3', 20);
    const context = contextFor(makeStore(), source.url);
    const manifest = await createBackup(context, parseDatabaseUrl(source.url), { reason: 'manual', revision: null });
    await expect(restoreIntoNewDatabase(context, manifest.id, withDatabase(parseDatabaseUrl(source.url), other.name))).rejects.toBeInstanceOf(RefusedError);
    expect((await tableContents(other.name))['public.items']?.rows).toBe(20);
  });

  it('a pg_restore that fails part-way (an event trigger a non-superuser cannot create) drops the half-restored database', async () => {
    const source = await seeded('bk_evt', 100);
    await source.query(`CREATE FUNCTION noop_evt() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
                        CREATE EVENT TRIGGER noop_evt ON ddl_command_start EXECUTE FUNCTION noop_evt();`);
    await withAdmin(async (client) => {
      await client.query('DROP ROLE IF EXISTS bk_restorer');
      await client.query(`CREATE ROLE bk_restorer LOGIN CREATEDB PASSWORD 'restorer-pw'`);
    });
    const dir = makeStore();
    const made = await cliIn(dir, source.url)('backup', '--json');
    expect(made.exitCode, made.stderr).toBe(0);
    const { id } = json<{ backup: BackupManifest }>(made).backup;

    const asRestorer = new URL(urlFor('postgres'));
    asRestorer.username = 'bk_restorer';
    asRestorer.password = 'restorer-pw';
    const into = `${source.name}_evt`;
    extra.push(into);
    const result = await cliIn(dir, asRestorer.toString())('restore', id, '--into', into);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/pg_restore into .* failed; the half-restored database was dropped: .*event trigger/);
    expect(await databaseExists(into)).toBe(false);
    await withAdmin((client) => client.query('DROP ROLE bk_restorer'));
  });
});

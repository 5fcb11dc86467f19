import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject, type TestProject } from '../harness/project.js';
import { alembicOutOfBand } from '../harness/tools.js';

/**
 * tests/fixtures/alembic-merged: m01_users branches into m02_orders and m02_profiles, merged by
 * m03_merge, which branches into m04_status and m04_audit, merged by m05_merge (the one head).
 */
const HEAD = 'm05_merge';

/** The revisions a real `alembic upgrade|downgrade <target>` runs against a database, in its order, read from its own log lines. */
async function alembicRunOrder(migrationsDir: string, url: string, direction: 'upgrade' | 'downgrade', target: string): Promise<string[]> {
  // The fixture's env.py configures no logging; INFO is where alembic says "Running upgrade a -> b".
  const main = `import logging; logging.basicConfig(level=logging.INFO); from alembic.config import main; main(["${direction}", "${target}"])`;
  const run = await execa('python', ['-c', main], { cwd: migrationsDir, env: { DATABASE_URL: url } });
  const line = direction === 'upgrade' ? /Running upgrade .* -> (\w+),/g : /Running downgrade (\w+) -> /g;
  return [...run.stderr.matchAll(line)].map((match) => match[1] ?? '');
}

/** The revision ids a dry run lists under its plan line. */
const plannedIn = (stdout: string) => [...stdout.matchAll(/^ {2}(m0\w+) {2}/gm)].map((match) => match[1]);

function addRevision(project: TestProject, id: string, down: string, body: readonly string[]): void {
  writeFileSync(
    path.join(project.migrationsDir, 'migrations', 'versions', `${id}.py`),
    [`"""${id}"""`, 'import sqlalchemy as sa', 'from alembic import op', '', `revision = "${id}"`, `down_revision = "${down}"`, 'branch_labels = None', 'depends_on = None', '', '', 'def upgrade():', ...body.map((line) => `    ${line}`), '', '', 'def downgrade():', '    pass', ''].join('\n'),
  );
}

describe('a history that branches and merges twice, with one head', () => {
  let db: TestDatabase;
  let project: TestProject;
  const cli = (...args: string[]) => runCli(args, { cwd: project.dir, env: { DATABASE_URL: db.url } });

  beforeAll(async () => {
    db = await createTestDatabase('merged');
    project = makeProject('alembic-merged');
    // Production sits on one branch: the other branch and both merges are pending.
    await alembicOutOfBand(project.migrationsDir, db.url, ['upgrade', 'm02_orders']);
    await db.query(`INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com')`);
  });
  afterAll(() => db.drop());

  it('current, history and check read it; the plan is the order real alembic runs', async () => {
    const current = await cli('current');
    expect(current.exitCode, current.stderr).toBe(0);
    expect(current.stdout.trim()).toBe('m02_orders  create orders');

    const history = await cli('history');
    expect(history.exitCode, history.stderr).toBe(0);
    expect(history.stdout).toMatch(/^applied\s+m01_users\s/m);
    expect(history.stdout).toMatch(/^applied\s+m02_orders\s.*<- current$/m);
    expect(history.stdout).toMatch(/^pending\s+m02_profiles\s/m);
    expect(history.stdout).toMatch(/^pending\s+m05_merge\s+merge status and audit log  \(merges m04_status, m04_audit\)$/m);
    expect(history.stdout).toContain('2 applied, 5 pending');

    const check = await cli('check', '--json');
    expect(check.exitCode, check.stderr).toBe(8);
    const pending = (JSON.parse(check.stdout) as { pending: { id: string }[] }).pending.map((entry) => entry.id);
    expect(pending.sort()).toEqual(['m02_profiles', 'm03_merge', 'm04_audit', 'm04_status', 'm05_merge']);

    const dryRun = await cli('upgrade', '--dry-run');
    expect(dryRun.exitCode, dryRun.stderr).toBe(0);
    const planned = plannedIn(dryRun.stdout);

    // The same start on a second database, upgraded by alembic itself; then a downgrade both ways.
    const twin = await createTestDatabase('mergedtwin');
    try {
      await alembicOutOfBand(project.migrationsDir, twin.url, ['upgrade', 'm02_orders']);
      const real = await alembicRunOrder(project.migrationsDir, twin.url, 'upgrade', 'head');
      expect(real).toHaveLength(5);
      expect(planned).toEqual(real);

      const downDryRun = await runCli(['downgrade', 'm01_users', '--dry-run'], { cwd: project.dir, env: { DATABASE_URL: twin.url } });
      expect(downDryRun.exitCode, downDryRun.stderr).toBe(0);
      const realDown = await alembicRunOrder(project.migrationsDir, twin.url, 'downgrade', 'm01_users');
      expect(realDown).toHaveLength(6);
      expect(plannedIn(downDryRun.stdout)).toEqual(realDown);
    } finally {
      await twin.drop();
    }
  });

  it('upgrade runs it through both merges; downgrade -1 and upgrade again work', async () => {
    const upgrade = await cli('upgrade', '--yes');
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    expect((await cli('current')).stdout.trim()).toBe(`${HEAD} (head)  merge status and audit log`);
    expect((await cli('check')).exitCode).toBe(0);

    const down = await cli('downgrade', '-1', '--yes');
    expect(down.exitCode, down.stderr).toBe(0);
    // From a merge revision one step back is the previous revision that alone is the head: the merge before.
    expect(down.stdout).toContain(`downgraded ${HEAD} -> m03_merge (3 migrations)`);
    expect((await cli('current')).stdout.trim()).toBe('m03_merge  merge orders and profiles');
    expect(await db.query(`SELECT to_regclass('audit_log')::text AS t`)).toEqual([{ t: null }]);

    const lint = await cli('lint');
    expect(lint.exitCode, lint.stderr).toBe(0);
    expect(lint.stdout).toContain('3 migrations linted');

    const again = await cli('upgrade', '--yes');
    expect(again.exitCode, again.stderr).toBe(0);
    expect((await cli('check')).exitCode).toBe(0);
    // Three full pipeline runs: more than the default limit on a loaded machine.
  }, 360_000);

  it('test: upgrade, downgrade and upgrade again on a scratch copy', async () => {
    const result = await cli('test');
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it('several heads: exit 2 naming them and the alembic merge command, for every command', async () => {
    const forked = makeProject('alembic-merged');
    addRevision(forked, 'm06_side', 'm04_audit', ['op.execute("ALTER TABLE audit_log ADD COLUMN note text")']);
    for (const args of [['current'], ['check'], ['history'], ['lint'], ['upgrade', '--dry-run']]) {
      const result = await runCli(args, { cwd: forked.dir, env: { DATABASE_URL: db.url } });
      expect(result.exitCode, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/2 heads \((m05_merge, m06_side|m06_side, m05_merge)\)/);
      expect(result.stderr).toMatch(/alembic merge -m "merge heads" (m05_merge m06_side|m06_side m05_merge)/);
    }
  });
});

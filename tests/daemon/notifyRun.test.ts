import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/localpg/cluster.js';
import { runCli } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject, type TestProject } from '../harness/project.js';
import { webhookReceiver } from './support.js';

/** A fourth migration that fails wherever it runs: the rehearsal catches it (exit 5). */
function addBrokenMigration(project: TestProject): void {
  writeFileSync(
    path.join(project.migrationsDir, 'migrations', 'versions', '004_broken.py'),
    ['"""broken"""', 'from alembic import op', 'revision = "004_broken"', 'down_revision = "003_add_order_status"', 'branch_labels = None', 'depends_on = None', '', 'def upgrade():', '    op.execute("SELECT 1/0")', '', 'def downgrade():', '    pass', ''].join('\n'),
  );
}

describe('a failed run notifies the webhooks', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('dnot');
  });
  afterAll(() => db.drop());

  it('sends one POST with the outcome and no password; a dead receiver leaves the exit code alone', async () => {
    const receiver = await webhookReceiver();
    try {
      const project = makeProject('alembic-project', { notifications: { webhooks: [receiver.url] } });
      addBrokenMigration(project);
      const failed = await runCli(['upgrade', '--yes'], { cwd: project.dir, env: { DATABASE_URL: db.url } });
      expect(failed.exitCode).toBe(5);
      expect(receiver.requests).toHaveLength(1);
      const body = JSON.parse(receiver.requests[0]?.body ?? '{}') as Record<string, unknown>;
      expect(body).toMatchObject({ source: 'orchestrate', command: 'upgrade', exitCode: 5, event: 'run.failed' });
      expect(typeof body.outcome).toBe('string');
      expect(receiver.requests[0]?.body).not.toContain(decodeURIComponent(new URL(db.url).password));

      const dead = makeProject('alembic-project', { notifications: { webhooks: [`http://127.0.0.1:${await freePort()}/hook`], retries: 1, backoffMs: 100, budgetMs: 2000 } });
      addBrokenMigration(dead);
      const stillFailed = await runCli(['upgrade', '--yes'], { cwd: dead.dir, env: { DATABASE_URL: db.url } });
      expect(stillFailed.exitCode).toBe(5);
      expect(stillFailed.stderr).toMatch(/notification not delivered/);
    } finally {
      await receiver.close();
    }
  });
});

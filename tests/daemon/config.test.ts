import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { createTestDatabase } from '../harness/db.js';
import { makeProject } from '../harness/project.js';

describe('orchestrate daemon refuses to start on bad input', () => {
  it('exits 2 and names every bad daemon or notification key', async () => {
    const project = makeProject('alembic-project', {
      daemon: { port: 70000, jobs: { retention: { schedule: 'every night' }, housekeeping: { olderThanDayz: 3 } } },
      notifications: { webhooks: ['ftp://example.com/hook'] },
    });
    const result = await runCli(['daemon'], { cwd: project.dir, env: { DATABASE_URL: 'postgresql://u@127.0.0.1:1/db' } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('daemon.port');
    expect(result.stderr).toContain('daemon.jobs.retention.schedule: must be a cron expression');
    expect(result.stderr).toContain('daemon.jobs.housekeeping: unknown key "olderThanDayz"');
    expect(result.stderr).toContain('notifications.webhooks.0: must be an http:// or https:// URL');
  });

  it('exits 2 without a database, and on a bad --port', async () => {
    const project = makeProject('alembic-project', { daemon: { port: 0 } });
    const noDb = await runCli(['daemon'], { cwd: project.dir });
    expect(noDb.exitCode).toBe(2);
    expect(noDb.stderr).toMatch(/no database given/);
    const badPort = await runCli(['daemon', '--port', 'http'], { cwd: project.dir, env: { DATABASE_URL: 'postgresql://u@127.0.0.1:1/db' } });
    expect(badPort.exitCode).toBe(2);
  });

  it('exits 3 when its port is taken', async () => {
    const db = await createTestDatabase('dcfg');
    const squatter = createServer();
    squatter.listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    try {
      const project = makeProject('alembic-project', { daemon: { port: (squatter.address() as AddressInfo).port } });
      const result = await runCli(['daemon'], { cwd: project.dir, env: { DATABASE_URL: db.url } });
      expect(result.exitCode).toBe(3);
      expect(result.stderr).toMatch(/cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    } finally {
      squatter.close();
      await db.drop();
    }
  });
});

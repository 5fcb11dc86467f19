import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import { freePort } from '../../src/localpg/cluster.js';
import { notifyRunFinished, type RunEvent } from '../../src/notify/index.js';
import { captureLogger, webhookReceiver } from './support.js';

const CANARY = 'canary-Pa55word-7731';

function settingsWith(notifications: Record<string, unknown>): Settings {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-notify-'));
  writeFileSync(path.join(dir, 'orchestrate.config.json'), JSON.stringify({ notifications }));
  return loadSettings({ flags: {}, env: {}, cwd: dir });
}

function event(exitCode: number, outcome: string): RunEvent {
  return {
    runId: 'run00001',
    command: 'upgrade',
    outcome,
    exitCode,
    database: 'app@db.internal:5432/app',
    env: 'production',
    startedAt: '2026-11-22T02:00:00.000Z',
    finishedAt: '2026-11-22T02:01:30.000Z',
    durationMs: 90_000,
    reportPath: '/srv/reports/run00001.md',
    // A driver error that echoed the connection string: the body must not carry the password on.
    message: `migration failed against postgresql://app:${CANARY}@db.internal:5432/app?password=${CANARY}`,
  };
}

describe('notifyRunFinished', () => {
  it('POSTs one JSON body for a failed run, with the outcome and without the password', async () => {
    const receiver = await webhookReceiver();
    try {
      const { logger, lines } = captureLogger();
      await notifyRunFinished(settingsWith({ webhooks: [receiver.url] }), logger, event(6, 'rolled-back'));
      expect(receiver.requests).toHaveLength(1);
      const [request] = receiver.requests;
      expect(request?.headers['content-type']).toBe('application/json');
      expect(request?.body).not.toContain(CANARY);
      expect(JSON.parse(request?.body ?? '{}')).toMatchObject({
        source: 'orchestrate',
        event: 'run.rolled-back',
        severity: 'warning',
        runId: 'run00001',
        command: 'upgrade',
        outcome: 'rolled-back',
        exitCode: 6,
        database: 'app@db.internal:5432/app',
        env: 'production',
        durationMs: 90_000,
        reportPath: '/srv/reports/run00001.md',
      });
      expect(lines().find((line) => line.msg === 'notification sent')).toMatchObject({ attempts: 1, result: 'HTTP 200' });
      // The log names the receiver by origin only: a webhook path is often the credential itself.
      expect(JSON.stringify(lines())).not.toContain('/hook');
    } finally {
      await receiver.close();
    }
  });

  it('marks exit 7 critical, and stays silent on success unless asked', async () => {
    const receiver = await webhookReceiver();
    try {
      const { logger } = captureLogger();
      await notifyRunFinished(settingsWith({ webhooks: [receiver.url] }), logger, event(7, 'needs-human'));
      await notifyRunFinished(settingsWith({ webhooks: [receiver.url] }), logger, event(0, 'succeeded'));
      expect(receiver.requests.map((request) => JSON.parse(request.body) as Record<string, unknown>)).toMatchObject([{ event: 'run.needs-human', severity: 'critical', exitCode: 7 }]);
      await notifyRunFinished(settingsWith({ webhooks: [receiver.url], onSuccess: true }), logger, event(0, 'succeeded'));
      expect(receiver.requests).toHaveLength(2);
      expect(JSON.parse(receiver.requests[1]?.body ?? '{}')).toMatchObject({ event: 'run.succeeded', severity: 'info' });
    } finally {
      await receiver.close();
    }
  });

  it('retries a 503 with backoff and stops at the first success', async () => {
    const receiver = await webhookReceiver([503, 502]);
    try {
      const { logger, lines } = captureLogger();
      await notifyRunFinished(settingsWith({ webhooks: [receiver.url], retries: 3, backoffMs: 50 }), logger, event(5, 'rehearsal-failed'));
      expect(receiver.requests).toHaveLength(3);
      expect(lines().find((line) => line.msg === 'notification sent')).toMatchObject({ attempts: 3 });
    } finally {
      await receiver.close();
    }
  });

  it('does not retry a 400: the receiver rejected the body', async () => {
    const receiver = await webhookReceiver([400]);
    try {
      const { logger, lines } = captureLogger();
      await notifyRunFinished(settingsWith({ webhooks: [receiver.url], retries: 3, backoffMs: 50 }), logger, event(1, 'failed'));
      expect(receiver.requests).toHaveLength(1);
      expect(lines().find((line) => line.msg === 'notification not delivered')).toMatchObject({ attempts: 1, result: 'HTTP 400' });
    } finally {
      await receiver.close();
    }
  });

  it('resolves within its budget when the receiver is dead or never answers, and never throws', async () => {
    const deadPort = await freePort();
    // Accepts connections and reads requests but never answers.
    const silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/hook`;
    try {
      const { logger, lines } = captureLogger();
      const settings = settingsWith({ webhooks: [`http://127.0.0.1:${deadPort}/hook`, silentUrl], timeoutMs: 400, retries: 5, backoffMs: 100, budgetMs: 1500 });
      const started = Date.now();
      await expect(notifyRunFinished(settings, logger, event(6, 'rolled-back'))).resolves.toBeUndefined();
      const elapsed = Date.now() - started;
      expect(elapsed).toBeLessThan(1500 + 300);
      const failures = lines().filter((line) => line.msg === 'notification not delivered');
      expect(failures).toHaveLength(2);
      expect(failures.find((line) => line.webhook === silentUrl.replace('/hook', ''))?.result).toMatch(/^no answer within \d+ ms$/);
      // The refused one kept retrying until the budget ran out rather than giving up at once.
      expect(Number(failures.find((line) => line.result === 'ECONNREFUSED')?.attempts)).toBeGreaterThan(1);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

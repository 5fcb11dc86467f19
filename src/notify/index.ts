import type { Settings } from '../config/settings.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { redact, registerSecret } from '../util/redact.js';
import { classify, webhookBody, type RunEvent } from './event.js';
import { deliver } from './webhook.js';

export type { RunEvent } from './event.js';
export { classify } from './event.js';

/** Where a webhook points, safe to log: its origin only (a path or query often is the credential). */
function webhookLabel(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/**
 * Tells the configured webhooks how a run ended: on every failure (rollback and "needs a human"
 * included), and on success when `notifications.onSuccess` is set. All webhooks are tried at once
 * and the whole thing ends within `notifications.budgetMs`. It never throws: a dead receiver must
 * not change the outcome or the exit code of the run it reports on.
 */
export async function notifyRunFinished(settings: Settings, logger: Logger, event: RunEvent): Promise<void> {
  try {
    const config = settings.notifications;
    if (config.webhooks.length === 0) return;
    const classification = classify(event.exitCode);
    if (classification.kind === 'succeeded' && !config.onSuccess) return;
    const body = JSON.stringify(webhookBody(event, classification));
    const deadline = Date.now() + config.budgetMs;
    await Promise.all(
      config.webhooks.map(async (address) => {
        // The whole URL counts as a secret: services such as Slack put the credential in the path.
        registerSecret(address);
        const url = new URL(address);
        const delivery = await deliver(url, body, { timeoutMs: config.timeoutMs, retries: config.retries, backoffMs: config.backoffMs, deadline });
        const fields = { webhook: webhookLabel(url), attempts: delivery.attempts, result: delivery.detail, runId: event.runId };
        if (delivery.ok) logger.info(fields, 'notification sent');
        else logger.warn(fields, 'notification not delivered');
      }),
    );
  } catch (error) {
    logger.warn({ error: redact(errorMessage(error)) }, 'notification failed');
  }
}

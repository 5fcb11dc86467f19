import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';

export interface DeliveryPolicy {
  /** Per attempt. */
  readonly timeoutMs: number;
  /** Further attempts after a retryable failure. */
  readonly retries: number;
  /** Wait before the first retry, doubled for each later one. */
  readonly backoffMs: number;
  /** Absolute time (ms since epoch) after which no attempt starts and any attempt in flight is abandoned. */
  readonly deadline: number;
}

export interface AttemptResult {
  readonly ok: boolean;
  /** Worth another attempt: network error, timeout, 408, 429, 5xx. */
  readonly retryable: boolean;
  /** Safe to log: a status code or an error name, never the URL. */
  readonly detail: string;
}

export interface Delivery {
  readonly ok: boolean;
  readonly attempts: number;
  readonly detail: string;
}

/** One POST. `agent: false` so no keep-alive socket outlives the attempt and holds the process open. */
export function postJson(url: URL, body: string, timeoutMs: number): Promise<AttemptResult> {
  return new Promise((resolve) => {
    const send = url.protocol === 'https:' ? https.request : http.request;
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    };
    const request = send(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'orchestrate-notifier' },
    });
    const timer = setTimeout(() => finish({ ok: false, retryable: true, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      // Drain the body so the socket can close; its content is of no interest.
      response.resume();
      response.on('end', () => finish({ ok: status >= 200 && status < 300, retryable: status === 408 || status === 429 || status >= 500, detail: `HTTP ${status}` }));
      response.on('error', () => finish({ ok: status >= 200 && status < 300, retryable: status >= 500, detail: `HTTP ${status}` }));
    });
    request.on('error', (error: NodeJS.ErrnoException) => finish({ ok: false, retryable: true, detail: error.code ?? errorMessage(error).split('\n')[0] ?? 'error' }));
    request.end(body);
  });
}

/** POSTs with bounded retries and exponential backoff, all inside the policy's deadline. Never throws. */
export async function deliver(url: URL, body: string, policy: DeliveryPolicy, now: () => number = Date.now): Promise<Delivery> {
  let attempts = 0;
  let last: AttemptResult = { ok: false, retryable: false, detail: 'not attempted: no time left in the budget' };
  for (let attempt = 0; attempt <= policy.retries; attempt += 1) {
    if (attempt > 0) {
      const wait = policy.backoffMs * 2 ** (attempt - 1);
      if (now() + wait >= policy.deadline) break;
      await sleep(wait);
    }
    const remaining = policy.deadline - now();
    if (remaining <= 0) break;
    attempts += 1;
    last = await postJson(url, body, Math.min(policy.timeoutMs, remaining));
    if (last.ok || !last.retryable) break;
  }
  return { ok: last.ok, attempts, detail: last.detail };
}

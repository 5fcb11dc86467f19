import { errorMessage } from '../errors.js';
import { redact } from '../util/redact.js';
import type { CheckResult, CheckStatus } from '../validation/checks.js';

/** Every preflight check, in the order results are returned. The names are part of the report format: keep them stable. */
export const PREFLIGHT_CHECKS = [
  'server',
  'privileges:create-database',
  'privileges:owner',
  'tools:pg_dump',
  'tools:pg_restore',
  'disk',
  'sessions:long-transactions',
  'sessions:idle-in-transaction',
  'replication',
  'restore:non-superuser',
] as const;

export type PreflightCheckName = (typeof PREFLIGHT_CHECKS)[number];

export const pass = (name: PreflightCheckName, detail: string): CheckResult => ({ name, status: 'pass', detail });
export const warn = (name: PreflightCheckName, detail: string): CheckResult => ({ name, status: 'warn', detail });
export const fail = (name: PreflightCheckName, detail: string): CheckResult => ({ name, status: 'fail', detail });
export const result = (name: PreflightCheckName, status: CheckStatus, detail: string): CheckResult => ({ name, status, detail });

/**
 * Runs one check; if it throws, the check is reported with the reason instead, as `status`: one
 * check that cannot run must not hide the others.
 */
export async function guarded(name: PreflightCheckName, status: Exclude<CheckStatus, 'pass'>, check: () => Promise<CheckResult> | CheckResult): Promise<CheckResult> {
  try {
    return await check();
  } catch (error) {
    return result(name, status, `could not check: ${redact(errorMessage(error))}`);
  }
}

export const counted = (count: number, noun: string, plural = `${noun}s`) => `${count} ${count === 1 ? noun : plural}`;

/** "a, b, c and 4 more": long lists stay readable in a one-line detail. */
export function listed(items: readonly string[], max = 10): string {
  const shown = items.slice(0, max).join('; ');
  return items.length > max ? `${shown}; and ${items.length - max} more` : shown;
}

/** Seconds for people: "3.4 s", "75 s", "12 min 5 s", "2 h 3 min". */
export function formatAge(seconds: number): string {
  if (seconds < 10) return `${(Math.floor(seconds * 10) / 10).toFixed(1)} s`;
  if (seconds < 120) return `${Math.floor(seconds)} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

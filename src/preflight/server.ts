import type { CheckResult } from '../validation/checks.js';
import type { Reached } from './connection.js';
import { fail, pass, warn, type PreflightCheckName } from './result.js';

/** Reachable, its version, and a primary: a standby cannot be migrated. */
export function serverCheck(target: Reached): CheckResult {
  if (!target.ok) return fail('server', target.reason);
  const { facts } = target;
  const role = `role ${facts.role}${facts.superuser ? ' (superuser)' : ''}`;
  if (facts.inRecovery) {
    return fail('server', `${target.where} is a standby in recovery (PostgreSQL ${facts.version}, ${role}): it is read-only; point the database URL at the primary`);
  }
  return pass('server', `PostgreSQL ${facts.version} at ${target.where}, ${role}`);
}

/** The result of a check that needs the server when the server check failed: the server check already blocks the run. */
export function notChecked(name: PreflightCheckName): CheckResult {
  return warn(name, 'not checked: the server could not be reached (see the server check)');
}

import type { RunContext } from '../context.js';
import { withClient } from '../db/client.js';
import { describeTarget } from '../db/target.js';
import { migrationStatus } from '../migrators/status.js';
import { validateDatabase, type CheckResult } from '../validation/checks.js';

export interface ValidationReport {
  readonly database: string;
  readonly current: string | null;
  readonly head: string | null;
  readonly checks: readonly CheckResult[];
  readonly ok: boolean;
}

/** The pipeline's validation step against the database as it is now (the revision must be the head). */
export async function validateNow(context: RunContext): Promise<ValidationReport> {
  const target = context.target();
  const status = await migrationStatus(context.migrator(), target, context.toolSession());
  const revision: CheckResult =
    status.pending.length === 0
      ? { name: 'revision', status: 'pass', detail: `at head ${status.current ?? 'base'}` }
      : { name: 'revision', status: 'warn', detail: `at ${status.current ?? 'base'}, ${status.pending.length} pending (head ${status.head ?? 'base'})` };
  const checks = await withClient(target, `${context.applicationName}/inspect`, (client) => validateDatabase(client, context.settings.validation));
  const all = [revision, ...checks];
  return { database: describeTarget(target), current: status.current, head: status.head, checks: all, ok: all.every((check) => check.status !== 'fail') };
}

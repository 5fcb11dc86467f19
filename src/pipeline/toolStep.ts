import { withClient } from '../db/client.js';
import { stopBackends } from '../db/sessions.js';
import type { DbTarget } from '../db/target.js';
import type { ProgramRun } from '../exec/process.js';
import type { Revision } from '../migrators/plan.js';
import type { Migrator, ToolSession } from '../migrators/types.js';
import type { Direction } from './state.js';

/** Runs the migration tool in one direction; `to` null means base. */
export function runTool(migrator: Migrator, db: DbTarget, direction: Direction, to: Revision, session: ToolSession): Promise<ProgramRun> {
  if (direction === 'upgrade') {
    if (to === null) throw new Error('an upgrade always has a target revision');
    return migrator.upgrade(db, to, session);
  }
  return migrator.downgrade(db, to, session);
}

export function reverse(direction: Direction): Direction {
  return direction === 'upgrade' ? 'downgrade' : 'upgrade';
}

/**
 * After the tool was stopped or failed: its server backends may still be running a statement and
 * holding locks (killing the client does not stop them). Cancel, then terminate, every backend tagged
 * with the tool's application_name.
 */
export async function stopToolBackends(db: DbTarget, toolApplicationName: string, inspectName: string): Promise<{ cancelled: number[]; terminated: number[] }> {
  return withClient(db, inspectName, (client) => stopBackends(client, toolApplicationName));
}

/**
 * Session settings every tool run of the pipeline gets on top of lock_timeout: on PostgreSQL 14+ the
 * server checks every 0.5 s that the client is still there, so a tool killed mid-statement does not
 * leave its backend running until the statement ends. Older servers refuse unknown settings at connect.
 */
export function liveClientCheck(serverVersionNum: number | undefined): { connectionCheckIntervalMs?: number } {
  return serverVersionNum !== undefined && serverVersionNum >= 140000 ? { connectionCheckIntervalMs: 500 } : {};
}

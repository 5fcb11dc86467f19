import { probeConnection } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import { history, type HistoryEntry } from './plan.js';
import type { Migrator, ToolSession } from './types.js';

export interface MigrationStatus {
  readonly current: string | null;
  readonly head: string | null;
  readonly entries: readonly HistoryEntry[];
  readonly pending: readonly HistoryEntry[];
}

/** Where the database stands against the project's migrations. */
export async function migrationStatus(migrator: Migrator, db: DbTarget, session: ToolSession): Promise<MigrationStatus> {
  await probeConnection(db, session.applicationName);
  const [migrations, state] = await Promise.all([migrator.migrations(), migrator.state(db, session)]);
  const entries = history(migrations, state);
  return {
    current: state.current,
    head: migrations.at(-1)?.id ?? null,
    entries,
    pending: entries.filter((entry) => !entry.applied),
  };
}

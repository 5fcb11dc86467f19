import { withClient } from '../db/client.js';
import type { DbTarget } from '../db/target.js';
import type { Migrator, ToolSession } from '../migrators/types.js';
import { tableActivity, tableRowEstimates, type TableActivity } from '../validation/data.js';
import { diffFingerprints, schemaFingerprint, type SchemaFingerprint } from '../validation/fingerprint.js';

/** The state of a database at one moment: what rollback must return to and verification compares against. */
export interface Snapshot {
  readonly takenAt: string;
  readonly revision: string | null;
  readonly fingerprint: SchemaFingerprint;
  readonly rowEstimates: Readonly<Record<string, number>>;
  /** pg_stat_user_tables counters, to measure the writes a restore would lose. */
  readonly activity: Readonly<Record<string, TableActivity>>;
}

/** `revision` is the tool's answer, just read under the run lock (asking the tool again costs a process start). */
export async function takeSnapshot(db: DbTarget, revision: string | null, inspectName: string): Promise<Snapshot> {
  const catalog = await withClient(db, inspectName, async (client) => ({
    fingerprint: await schemaFingerprint(client),
    rowEstimates: await tableRowEstimates(client),
    activity: await tableActivity(client),
  }));
  return { takenAt: new Date().toISOString(), revision, ...catalog };
}

/** Differences between the database now and a snapshot: revision first, then schema. Empty when equal. */
export async function compareWithSnapshot(db: DbTarget, migrator: Migrator, session: ToolSession, inspectName: string, expected: { revision: string | null; fingerprint: SchemaFingerprint }, label: string): Promise<string[]> {
  const { current } = await migrator.state(db, session);
  const fingerprint = await withClient(db, inspectName, (client) => schemaFingerprint(client));
  const differences: string[] = [];
  if (current !== expected.revision) differences.push(`revision is ${current ?? 'base'}, ${label} it was ${expected.revision ?? 'base'}`);
  differences.push(...diffFingerprints(expected.fingerprint, fingerprint, { expected: label, actual: 'now' }));
  return differences;
}

import type pg from 'pg';
import type { CheckResult } from '../validation/checks.js';
import { formatBytes } from '../backup/progress.js';
import { counted, formatAge, listed, pass, warn } from './result.js';

const NAME = 'replication';

/** One row of pg_stat_replication; every column but the pid is NULL without pg_read_all_stats. */
export interface ReplicaRow {
  readonly name: string | null;
  readonly address: string | null;
  readonly state: string | null;
  readonly syncState: string | null;
  /** replay_lag in seconds; NULL once a replica has caught up and gone idle, or when hidden. */
  readonly lagSeconds: number | null;
  /** WAL bytes between the primary's current position and the replica's replay position. */
  readonly bytesBehind: number | null;
}

/** Replay lag per replica against the limit; a replica we may not see or measure is a warning too. */
export function judgeReplicas(replicas: readonly ReplicaRow[], maxLagSeconds: number): CheckResult {
  if (replicas.length === 0) return pass(NAME, 'no replicas');
  const lines: string[] = [];
  const behind: string[] = [];
  let hidden = 0;
  for (const replica of replicas) {
    if (replica.state === null) {
      hidden += 1;
      continue;
    }
    const label = `${replica.name || 'unnamed'} (${replica.address ?? 'local'}, ${replica.state}, ${replica.syncState ?? 'async'})`;
    // No lag sample but nothing left to replay: caught up.
    const lag = replica.lagSeconds ?? (replica.bytesBehind === 0 ? 0 : null);
    const bytes = replica.bytesBehind === null ? '' : `, ${formatBytes(replica.bytesBehind)} behind`;
    const text = `${label}: replay lag ${lag === null ? 'unknown' : formatAge(lag)}${bytes}`;
    lines.push(text);
    if (lag === null || lag > maxLagSeconds) behind.push(text);
  }
  const hiddenNote = hidden > 0 ? `${counted(hidden, 'replica')} not visible to this role (grant pg_read_all_stats or pg_monitor)` : '';
  if (behind.length > 0) {
    const extra = hiddenNote ? `; ${hiddenNote}` : '';
    return warn(NAME, `${counted(behind.length, 'replica')} behind by more than ${maxLagSeconds} s or unmeasured: ${listed(behind)}${extra}; the migration's WAL adds to the lag and a failover now would lose what they have not replayed; wait for them to catch up`);
  }
  if (hidden > 0) return warn(NAME, [hiddenNote, ...lines].join('; '));
  return pass(NAME, `${counted(lines.length, 'replica')} within ${maxLagSeconds} s: ${listed(lines)}`);
}

export async function replicas(client: pg.Client): Promise<ReplicaRow[]> {
  const { rows } = await client.query<{ name: string | null; address: string | null; state: string | null; sync_state: string | null; lag: number | null; bytes: number | null }>(
    `SELECT r.application_name AS name, host(r.client_addr) AS address, r.state, r.sync_state,
            extract(epoch FROM r.replay_lag)::float8 AS lag,
            pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn)::float8 AS bytes
       FROM pg_catalog.pg_stat_replication r ORDER BY r.application_name, r.pid`,
  );
  return rows.map((row) => ({ name: row.name, address: row.address, state: row.state, syncState: row.sync_state, lagSeconds: row.lag, bytesBehind: row.bytes }));
}

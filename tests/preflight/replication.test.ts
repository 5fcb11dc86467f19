import { describe, expect, it } from 'vitest';
import { judgeReplicas, type ReplicaRow } from '../../src/preflight/replication.js';

// A server with replicas is more than one test machine can start quickly: the live query is covered
// by "replication passes with no replicas" (all.test.ts); this is the judgement over its rows.
const replica = (over: Partial<ReplicaRow>): ReplicaRow => ({ name: 'replica1', address: '10.0.0.2', state: 'streaming', syncState: 'async', lagSeconds: 0.4, bytesBehind: 2048, ...over });

describe('judging pg_stat_replication rows', () => {
  it('no rows: no replicas', () => {
    expect(judgeReplicas([], 30)).toEqual({ name: 'replication', status: 'pass', detail: 'no replicas' });
  });

  it('replicas within the limit pass, each named with its lag', () => {
    const result = judgeReplicas([replica({}), replica({ name: 'replica2', lagSeconds: null, bytesBehind: 0 })], 30);
    expect(result.status).toBe('pass');
    expect(result.detail).toBe('2 replicas within 30 s: replica1 (10.0.0.2, streaming, async): replay lag 0.4 s, 2.0 kB behind; replica2 (10.0.0.2, streaming, async): replay lag 0.0 s, 0 B behind');
  });

  it('a replica above maxReplicationLagSeconds is a warning naming it and its lag', () => {
    const result = judgeReplicas([replica({}), replica({ name: 'far', lagSeconds: 95, bytesBehind: 64_000_000 })], 30);
    expect(result.status).toBe('warn');
    expect(result.detail).toMatch(/^1 replica behind by more than 30 s or unmeasured: far \(10\.0\.0\.2, streaming, async\): replay lag 95 s, 64\.0 MB behind; /);
    expect(result.detail).not.toContain('replica1');
  });

  it('replicas this role may not see are a warning that says which privilege is missing', () => {
    const result = judgeReplicas([replica({ name: null, address: null, state: null, syncState: null, lagSeconds: null, bytesBehind: null })], 30);
    expect(result).toMatchObject({ status: 'warn', detail: '1 replica not visible to this role (grant pg_read_all_stats or pg_monitor)' });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, withClient } from '../../src/db/client.js';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { RefusedError } from '../../src/errors.js';
import { adminUrl } from '../harness/db.js';
import { countingRelay, throughRelay, type CountingRelay } from '../harness/relay.js';

describe('connecting with sslmode=prefer to a server without TLS', () => {
  let relay: CountingRelay;
  const through = (sslmode: string) => parseDatabaseUrl(throughRelay(adminUrl(), relay, sslmode));

  beforeAll(async () => {
    relay = await countingRelay(new URL(adminUrl()));
  });
  afterAll(async () => {
    await relay.close();
  });

  it('asks for TLS once per server: later connections go straight to the clear', async () => {
    const target = through('prefer');
    const ask = () => withClient(target, 'orchestrate-test/prefer', async (client) => (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one);
    expect(await ask()).toBe(1);
    // The refused TLS attempt and the plain connection.
    expect(relay.connections()).toBe(2);
    expect(await Promise.all([ask(), ask(), ask()])).toEqual([1, 1, 1]);
    expect(relay.connections()).toBe(5);
  });

  it('require still asks, and is still refused, after prefer learnt that the server has no TLS', async () => {
    await withClient(through('prefer'), 'orchestrate-test/prefer', async () => undefined);
    const before = relay.connections();
    const refused = await connect(through('require'), 'orchestrate-test/require').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(RefusedError);
    expect((refused as Error).message).toMatch(/does not accept TLS connections, and sslmode=require demands them/);
    expect(relay.connections()).toBe(before + 1);
  });
});

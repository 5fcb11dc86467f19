import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, withClient } from '../../src/db/client.js';
import { parseDatabaseUrl } from '../../src/db/target.js';
import { RefusedError } from '../../src/errors.js';
import { adminUrl } from '../harness/db.js';

/**
 * A TCP relay in front of the test server (which has no TLS) that counts the connections it is
 * asked for: each one is a backend start on the server, whether or not it gets as far as a login.
 */
function countingRelay(to: URL): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    connections += 1;
    const upstream = net.connect(Number(to.port), to.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      resolve({
        port: address.port,
        connections: () => connections,
        close: () => {
          for (const socket of sockets) socket.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      });
    });
  });
}

describe('connecting with sslmode=prefer to a server without TLS', () => {
  let relay: Awaited<ReturnType<typeof countingRelay>>;
  const through = (sslmode: string) => {
    const url = new URL(adminUrl());
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    url.searchParams.set('sslmode', sslmode);
    return parseDatabaseUrl(url.toString());
  };

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

import net from 'node:net';

export interface CountingRelay {
  readonly port: number;
  /** Connections asked for so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of the test server (which has no TLS) that counts the connections it is
 * asked for: each one is a backend start on the server, whether or not it gets as far as a login.
 */
export function countingRelay(to: URL): Promise<CountingRelay> {
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

/** `url` with its host and port pointed at `relay`, and this sslmode. */
export function throughRelay(url: string, relay: CountingRelay, sslmode: string): string {
  const relayed = new URL(url);
  relayed.hostname = '127.0.0.1';
  relayed.port = String(relay.port);
  relayed.searchParams.set('sslmode', sslmode);
  return relayed.toString();
}

import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { redact, redactDeep } from '../util/redact.js';

export interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** A route answers a GET; `query` is the request's search parameters. */
export type Route = (query: URLSearchParams) => Promise<Reply>;

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  readonly token: string | undefined;
  readonly routes: Readonly<Record<string, Route>>;
  readonly logger: Logger;
}

export interface HttpServer {
  /** `http://host:port`, with the port actually bound (config port 0 picks one). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export function json(status: number, value: unknown): Reply {
  return { status, contentType: 'application/json; charset=utf-8', body: `${JSON.stringify(redactDeep(value), null, 2)}\n` };
}

function authorized(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1].trim());
  const expected = Buffer.from(token);
  // Constant time, so the token cannot be guessed byte by byte from response times.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The daemon's HTTP endpoint: read-only GET routes, optional bearer token, nothing else. */
export function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { token, routes, logger } = options;
  const server = http.createServer((request, response) => {
    const send = (reply: Reply, headers: Record<string, string> = {}) => {
      response.writeHead(reply.status, { 'content-type': reply.contentType, 'cache-control': 'no-store', ...headers });
      response.end(request.method === 'HEAD' ? undefined : reply.body);
    };
    const url = new URL(request.url ?? '/', 'http://daemon');
    if (token !== undefined && !authorized(request.headers.authorization, token)) {
      send(json(401, { error: 'missing or wrong bearer token' }), { 'www-authenticate': 'Bearer' });
      return;
    }
    const route = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
    if (!route) {
      send(json(404, { error: `no such endpoint: ${url.pathname}`, endpoints: Object.keys(routes) }));
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(json(405, { error: `${request.method ?? '?'} not allowed` }), { allow: 'GET, HEAD' });
      return;
    }
    route(url.searchParams).then(
      (reply) => send(reply),
      (error: unknown) => {
        const message = redact(errorMessage(error));
        logger.error({ path: url.pathname, error: message }, 'endpoint failed');
        send(json(500, { error: message }));
      },
    );
  });
  // Scrapes are short; a client that never finishes its request must not hold a socket forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      resolve({
        url: `http://${host}:${port}`,
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

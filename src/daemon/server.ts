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

/**
 * The path and query of an origin-form request target (`/path?query`), or undefined for anything
 * else. Parsed by hand: `new URL()` throws on targets like `//a:b@c:99999/` or `http://[::1`, and the
 * daemon serves only its own paths, so absolute and authority forms are simply bad requests.
 */
export function parseTarget(target: string | undefined): { pathname: string; query: URLSearchParams } | undefined {
  if (target === undefined || !target.startsWith('/') || target.startsWith('//')) return undefined;
  const hash = target.indexOf('#');
  const withoutFragment = hash === -1 ? target : target.slice(0, hash);
  const question = withoutFragment.indexOf('?');
  const pathname = question === -1 ? withoutFragment : withoutFragment.slice(0, question);
  // URLSearchParams decodes leniently and never throws, whatever the bytes.
  return { pathname, query: new URLSearchParams(question === -1 ? '' : withoutFragment.slice(question + 1)) };
}

/** The daemon's HTTP endpoint: read-only GET routes, optional bearer token, nothing else. */
export function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { token, routes, logger } = options;
  const handle = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    const send = (reply: Reply, headers: Record<string, string> = {}) => {
      // The client may be gone, or a handler may have failed after the head went out.
      if (response.headersSent || response.destroyed) return;
      response.writeHead(reply.status, { 'content-type': reply.contentType, 'cache-control': 'no-store', ...headers });
      response.end(request.method === 'HEAD' ? undefined : reply.body);
    };
    const target = parseTarget(request.url);
    if (!target) {
      send(json(400, { error: 'bad request target: only paths like /metrics are served' }), { connection: 'close' });
      return;
    }
    if (token !== undefined && !authorized(request.headers.authorization, token)) {
      send(json(401, { error: 'missing or wrong bearer token' }), { 'www-authenticate': 'Bearer' });
      return;
    }
    const route = Object.hasOwn(routes, target.pathname) ? routes[target.pathname] : undefined;
    if (!route) {
      send(json(404, { error: `no such endpoint: ${target.pathname}`, endpoints: Object.keys(routes) }));
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(json(405, { error: `${request.method ?? '?'} not allowed` }), { allow: 'GET, HEAD' });
      return;
    }
    const failed = (error: unknown) => {
      const message = redact(errorMessage(error));
      logger.error({ path: target.pathname, error: message }, 'endpoint failed');
      send(json(500, { error: message }));
    };
    try {
      route(target.query).then((reply) => send(reply), failed);
    } catch (error) {
      failed(error);
    }
  };
  const server = http.createServer((request, response) => {
    // A request body is never read: drain it so a client streaming one cannot stall the socket.
    request.on('error', () => undefined).resume();
    response.on('error', () => undefined);
    try {
      handle(request, response);
    } catch (error) {
      // The last line of defence: whatever a handler throws is this request's 500, never the daemon's crash.
      logger.error({ error: redact(errorMessage(error)) }, 'request handler failed');
      if (!response.headersSent && !response.destroyed) response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal error\n');
      else response.destroy();
    }
  });
  // Malformed request lines and headers never reach the handler: Node reports them here. Answer 400
  // when the socket can still take it, and never let the error escape.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    logger.debug({ error: error.code ?? errorMessage(error) }, 'malformed request');
    if (socket.writable && !socket.destroyed) {
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });
  // Scrapes are short; a client that never finishes its request must not hold a socket forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      // After listening, a server error (say EMFILE on accept) is logged; it must not be uncaught.
      server.on('error', (error) => logger.error({ error: redact(errorMessage(error)) }, 'endpoint error'));
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

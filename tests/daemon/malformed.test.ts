import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../harness/cli.js';
import { createTestDatabase, type TestDatabase } from '../harness/db.js';
import { makeProject } from '../harness/project.js';
import { httpGet, listeningUrl, sigterm } from './support.js';

const TOKEN = 'malformed-test-token-77c2';

/**
 * Writes `payload` on a raw TCP connection and returns what came back: as soon as it matches `until`,
 * or when the server closed the connection, or after `waitMs`, whichever is first. Every wait is bounded.
 */
function exchange(port: number, payload: string | Buffer | readonly (string | Buffer)[], until?: RegExp, waitMs = until ? 10_000 : 1_500): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (until?.test(received)) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', () => {
      for (const part of Array.isArray(payload) ? payload : [payload]) socket.write(part);
    });
  });
}

const auth = `Authorization: Bearer ${TOKEN}\r\n`;

/** Request lines, headers and bodies a fuzzer, a scanner or a broken client would send. */
const CORPUS: readonly { name: string; payload: string | Buffer | readonly (string | Buffer)[]; expect?: RegExp }[] = [
  { name: 'authority-looking target', payload: `GET //a:b@c:99999/ HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, expect: /^HTTP\/1\.1 400 / },
  { name: 'unterminated IPv6 absolute target', payload: `GET http://[::1 HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, expect: /^HTTP\/1\.1 400 / },
  { name: 'absolute target with a bad port', payload: `GET http://a:99999/metrics HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, expect: /^HTTP\/1\.1 400 / },
  // Node closes a CONNECT nobody listens for: closed is an answer too.
  { name: 'authority form', payload: `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n` },
  { name: 'asterisk form', payload: `OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n`, expect: /^HTTP\/1\.1 400 / },
  { name: 'unauthenticated bad target', payload: `GET //[::1 HTTP/1.1\r\nHost: x\r\n\r\n`, expect: /^HTTP\/1\.1 400 / },
  { name: 'percent garbage in path and query', payload: `GET /runs?limit=%ZZ%&%%=%E0%A4%A HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, expect: /^HTTP\/1\.1 200 / },
  { name: 'huge limit', payload: `GET /runs?limit=1e308 HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, expect: /^HTTP\/1\.1 200 / },
  { name: 'NUL and controls in the target', payload: Buffer.from(`GET /metr\x00ics\x01 HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1'), expect: /^HTTP\/1\.1 400 / },
  { name: 'garbage request line', payload: 'GARBAGE\r\n\r\n', expect: /^HTTP\/1\.1 400 / },
  { name: 'binary noise', payload: Buffer.from(Array.from({ length: 512 }, (_, index) => (index * 37 + 11) % 256)), expect: /^HTTP\/1\.1 400 / },
  { name: 'HTTP/9.9', payload: `GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n` },
  { name: 'header without a colon', payload: `GET /healthz HTTP/1.1\r\nHost x\r\n\r\n`, expect: /^HTTP\/1\.1 400 / },
  { name: 'header name with spaces', payload: `GET /healthz HTTP/1.1\r\nBad Header: 1\r\n\r\n`, expect: /^HTTP\/1\.1 400 / },
  { name: 'oversized header', payload: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`, expect: /^HTTP\/1\.1 431 / },
  { name: 'ten thousand headers', payload: `GET /healthz HTTP/1.1\r\n${'X-A: b\r\n'.repeat(10_000)}\r\n`, expect: /^HTTP\/1\.1 431 / },
  { name: 'conflicting lengths (smuggling)', payload: `POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, expect: /^HTTP\/1\.1 400 / },
  { name: 'bad chunked body', payload: `POST /metrics HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n` },
  { name: 'negative content length', payload: `POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`, expect: /^HTTP\/1\.1 400 / },
  { name: 'body on a GET, then more bytes than declared', payload: `GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcdefgh` },
  { name: 'a large body the daemon never reads', payload: [`POST /runs HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 2000000\r\n\r\n`, Buffer.alloc(2_000_000, 120)], expect: /^HTTP\/1\.1 405 / },
  { name: 'wrong method', payload: `DELETE /runs HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, expect: /^HTTP\/1\.1 405 / },
  { name: 'pipelined good and bad requests', payload: `GET /runs HTTP/1.1\r\nHost: x\r\n${auth}\r\nGET //a:b@c:99999/ HTTP/1.1\r\nHost: x\r\n\r\n`, expect: /^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 400 / },
  { name: 'bad bearer header', payload: `GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'\u00ff'.repeat(300)}\r\n\r\n`, expect: /^HTTP\/1\.1 401 / },
  { name: 'slowloris: half a request line, then silence', payload: 'GET /healthz HT' },
  { name: 'slowloris: headers never finished', payload: ['GET /healthz HTTP/1.1\r\n', 'Host: x\r\n', 'X-Slow: 1\r\n'] },
  { name: 'connect and send nothing', payload: '' },
];

describe('the daemon survives any request', () => {
  let db: TestDatabase;
  let daemon: ReturnType<typeof startCli>;
  let url: string;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase('dmal');
    const project = makeProject('alembic-project', { daemon: { port: 0 } });
    daemon = startCli(['daemon'], { cwd: project.dir, env: { DATABASE_URL: db.url, ORCHESTRATE_DAEMON_TOKEN: TOKEN } });
    url = await listeningUrl(daemon);
    port = Number(new URL(url).port);
  });
  afterAll(async () => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    await db.drop();
  });

  it.each(CORPUS)('$name: answered or closed, and /healthz still answers 200', async ({ payload, expect: expected }) => {
    const answer = await exchange(port, payload, expected);
    if (expected) expect(answer).toMatch(expected);
    expect(daemon.exitCode).toBeNull();
    const health = await httpGet(`${url}/healthz`, { authorization: `Bearer ${TOKEN}` });
    expect(health.status).toBe(200);
  });

  it('survives the whole corpus at once, fifty connections held open, and still stops cleanly', async () => {
    const held = Array.from({ length: 50 }, () => exchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', undefined, 2_000));
    await Promise.all(CORPUS.map(({ payload }) => exchange(port, payload)));
    expect((await httpGet(`${url}/healthz`, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    await Promise.all(held);
    sigterm(daemon);
    const result = await daemon;
    expect(result.exitCode).toBe(0);
    expect(String(result.all)).not.toMatch(/TypeError|Invalid URL|uncaught/i);
  });
});

/**
 * Hostile requests to the gateway, each sent as raw bytes on its own
 * connection: request smuggling (conflicting Content-Length and
 * Transfer-Encoding), header injection (CR or LF inside a value), an
 * oversized header block, a folded header, path tricks on the service segment, malformed
 * request lines. Each is answered 400 with a JSON reason, no upstream
 * receives anything (not even a connection), and the gateway keeps
 * serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { echo, startServer, type TestServer } from '../undici/servers.js';
import { bodyOf, get, memory, type Running, raw, startGateway, statusOf } from './harness.js';

expectNoLeakedHandles();

let upstream: TestServer;
let g: Running;
let m: ReturnType<typeof memory>;

beforeAll(async () => {
  upstream = await startServer(echo('users'));
  m = memory();
  m.add('users', 'a', upstream.port);
  g = await startGateway(m.discovery);
});

afterAll(async () => {
  await g?.close();
  await m?.discovery.close();
  await upstream?.close();
});

const H = 'Host: gw\r\n';

const CASES: readonly (readonly [string, string, RegExp])[] = [
  [
    'Content-Length with Transfer-Encoding: chunked',
    `POST /users/x HTTP/1.1\r\n${H}Content-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /users/smuggled HTTP/1.1\r\n\r\n`,
    /Transfer-Encoding can't be present with Content-Length/,
  ],
  [
    'two different Content-Length',
    `POST /users/x HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 40\r\n\r\nabc`,
    /Content-Length/,
  ],
  [
    'Transfer-Encoding: chunked after Content-Length',
    `POST /users/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\n`,
    /Content-Length can't be present with Transfer-Encoding/,
  ],
  [
    'Transfer-Encoding that does not end in chunked',
    `POST /users/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    /Transfer-Encoding/,
  ],
  [
    'a CR inside a header value',
    `GET /users/x HTTP/1.1\r\n${H}X-Note: a\rInjected: yes\r\n\r\n`,
    /Missing expected LF/,
  ],
  [
    'an LF inside a header value',
    `GET /users/x HTTP/1.1\r\n${H}X-Note: a\nInjected: yes\r\n\r\n`,
    /Missing expected CR/,
  ],
  [
    'a folded header line (obs-fold)',
    `GET /users/x HTTP/1.1\r\n${H}X-Note: a\r\n Transfer-Encoding: chunked\r\n\r\n`,
    /./,
  ],
  [
    'a space before the colon of Transfer-Encoding',
    `POST /users/x HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc`,
    /./,
  ],
  [
    'an oversized header block',
    `GET /users/x HTTP/1.1\r\n${H}${'X-Pad: '.concat('p'.repeat(1000), '\r\n').repeat(40)}\r\n`,
    /header block is too large/,
  ],
  ['.. as the service', `GET /../users/x HTTP/1.1\r\n${H}\r\n`, /dot segment/],
  ['.. after the service', `GET /users/../../admin HTTP/1.1\r\n${H}\r\n`, /dot segment/],
  ['%2e%2e as the service', `GET /%2e%2e/users/x HTTP/1.1\r\n${H}\r\n`, /dot segment/],
  ['%2E%2e after the service', `GET /users/%2E%2e/admin HTTP/1.1\r\n${H}\r\n`, /dot segment/],
  [
    'an encoded / in the service segment',
    `GET /users%2f..%2fadmin/x HTTP/1.1\r\n${H}\r\n`,
    /percent-encoded/,
  ],
  [
    'an encoded \\ in the service segment',
    `GET /users%5cadmin/x HTTP/1.1\r\n${H}\r\n`,
    /percent-encoded/,
  ],
  [
    'a service segment that is no service name',
    `GET /us@ers/x HTTP/1.1\r\n${H}\r\n`,
    /not a service name/,
  ],
  ['an absolute-form target', `GET http://users/x HTTP/1.1\r\n${H}\r\n`, /origin form/],
  ['a malformed request line', 'GET /users/x HTTP/1.1 extra\r\n\r\n', /./],
  ['garbage', '\u0000\u0001\u0002 nonsense\r\n\r\n', /./],
];

describe('gateway: hostile requests', () => {
  it.each(CASES)('refuses %s with 400 and forwards nothing', async (_what, bytes, reason) => {
    const response = await raw(g.port, bytes);
    expect(statusOf(response), response).toBe(400);
    expect(response).toMatch(/\r\ncontent-type: application\/json/i);
    const body = bodyOf(response);
    expect(body.error).toBe('bad request');
    expect(String(body.reason)).toMatch(reason);
    // Answered once, and the connection closed: nothing after it was read as a request.
    expect(response.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1);
    expect(upstream.seen).toEqual([]);
    expect(upstream.connections).toBe(0);
  });

  it('keeps serving after every refusal', async () => {
    for (const [, bytes] of CASES) await raw(g.port, bytes);
    const r = await get(g.port, '/users/ok');
    expect(r.status).toBe(200);
    expect(r.body).toBe('users GET /ok');
    expect(upstream.seen.map((s) => s.url)).toEqual(['/ok']);
  });
});

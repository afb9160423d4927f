/**
 * gateway() against real upstream servers on loopback, over the memory
 * registry's catalog: routing, the JSON error answers, headers, streaming,
 * Expect: 100-continue, WebSocket upgrades, the counters and the release
 * of everything on close().
 */
import { Agent, createServer, request, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { NEVER } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryBackend } from '../../../src/backends/memory/index.js';
import { createDiscovery, type Discovery } from '../../../src/core/discovery.js';
import { ConfigError } from '../../../src/core/errors.js';
import { gateway } from '../../../src/gateway/index.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { healthy } from '../../../src/operators/healthy.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { closedPort, echo, startServer, type TestServer } from '../undici/servers.js';
import {
  askUntil,
  get,
  listenOn,
  memory,
  type Running,
  raw,
  startGateway,
  statusOf,
} from './harness.js';

expectNoLeakedHandles();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const upstream = async (behaviour: Parameters<typeof startServer>[0]): Promise<TestServer> => {
  const s = await startServer(behaviour);
  cleanups.push(() => s.close());
  return s;
};

const started = async (
  d: Discovery,
  options: Parameters<typeof startGateway>[1] = {},
): Promise<Running> => {
  const g = await startGateway(d, options);
  cleanups.push(() => g.close());
  return g;
};

const setup = () => {
  const m = memory();
  cleanups.push(() => m.discovery.close());
  return m;
};

/** A memory registry with service `users` on one echo upstream `a`, and a gateway over it. */
const usersOnA = async (options: Parameters<typeof startGateway>[1] = {}) => {
  const m = setup();
  const a = await upstream(echo('a'));
  m.add('users', 'a', a.port);
  const g = await started(m.discovery, options);
  return { m, a, g };
};

const own = (server: Server): Promise<number> => listenOn(server, cleanups);

describe('gateway: routing', () => {
  it('sends /<service>/<rest>?<query> to /<rest>?<query> on an instance, over round robin', async () => {
    const m = setup();
    const a = await upstream(echo('a'));
    const b = await upstream(echo('b'));
    m.add('users', 'a', a.port);
    m.add('users', 'b', b.port);
    const g = await started(m.discovery);
    const first = await get(g.port, '/users/42/profile?full=1&x=%2F');
    const second = await get(g.port, '/users/42/profile?full=1&x=%2F');
    expect([first.body, second.body].sort()).toEqual([
      'a GET /42/profile?full=1&x=%2F',
      'b GET /42/profile?full=1&x=%2F',
    ]);
    expect((await get(g.port, '/users')).body).toMatch(/^[ab] GET \/$/);
    expect((await get(g.port, '/users?q=1')).body).toMatch(/^[ab] GET \/\?q=1$/);
  });

  it('routes a service as soon as it registers, and answers 404 naming it before', async () => {
    const m = setup();
    const a = await upstream(echo('a'));
    const g = await started(m.discovery);
    const before = await get(g.port, '/billing/x');
    expect(before.status).toBe(404);
    expect(before.headers['content-type']).toMatch(/^application\/json/);
    expect(before.json()).toMatchObject({
      error: 'unknown service',
      service: 'billing',
      registry: m.registry,
    });
    m.add('billing', 'a', a.port);
    const after = await get(g.port, '/billing/x');
    expect(after.status).toBe(200);
    expect(after.body).toBe('a GET /x');
  });

  it('answers 404 once a service left the registry, and forgets its route and counters', async () => {
    const { m, a, g } = await usersOnA();
    expect((await get(g.port, '/users/1')).status).toBe(200);
    expect(g.gw.status.stats('users', 'a')).toEqual({
      picks: 1,
      inFlight: 0,
      ejected: false,
      ejections: 0,
    });
    m.remove('users', 'a');
    expect((await get(g.port, '/users/1')).status).toBe(404);
    expect(g.gw.status.stats('users', 'a')).toBeUndefined();
    await eventually(() => a.open.size === 0, 5000, 'the pool of the gone instance to close');
  });

  it("closes a gone instance's keep-alive pool and drops its counters, keeps the others'", async () => {
    const m = setup();
    const a = await upstream(echo('a'));
    const b = await upstream(echo('b'));
    m.add('users', 'a', a.port);
    m.add('users', 'b', b.port);
    const g = await started(m.discovery);
    await get(g.port, '/users/1');
    await get(g.port, '/users/2');
    expect([a.open.size, b.open.size]).toEqual([1, 1]); // kept alive by the pools
    expect(g.gw.status.stats('users', 'a')?.picks).toBe(1);
    m.remove('users', 'a');
    await eventually(() => a.open.size === 0, 5000, "the gone instance's pool to close");
    expect(b.open.size).toBe(1);
    expect((await get(g.port, '/users/3')).body).toBe('b GET /3');
    // The gone instance's counters went with it; the other's stay.
    expect(g.gw.status.stats('users', 'a')).toBeUndefined();
    expect(g.gw.status.stats('users', 'b')?.picks).toBe(2);
  });

  it('answers 503 while the registry has not answered, after timeoutMs', async () => {
    // A registry-wide watch that never delivers its first catalog.
    const m = memory();
    const silent = { ...memoryBackend(m.store), catalog: () => () => NEVER };
    const d = createDiscovery(m.registry, async () => silent, { graceMs: 10 });
    cleanups.push(() => d.close());
    const g = await started(d, { timeoutMs: 200 });
    const r = await get(g.port, '/users/1');
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.json()).toMatchObject({ error: 'no instance', service: 'users' });
    expect(String(r.json().message)).toMatch(/no answer from the registry yet/);
  });

  it('while the registry is away: routes to the last known instances, 503 for a service it does not list', async () => {
    const { m, g } = await usersOnA();
    expect((await get(g.port, '/users/1')).status).toBe(200);
    m.store.setAvailable(false);
    cleanups.push(async () => m.store.setAvailable(true));
    const unknown = await askUntil(g.port, '/orders/1', (r) => r.status !== 404);
    expect(unknown.status).toBe(503);
    expect(unknown.headers['retry-after']).toBe('1');
    expect(String(unknown.json().message)).toMatch(/the registry is unreachable/);
    expect((await get(g.port, '/users/2')).body).toBe('a GET /2');
  });

  it('answers 503 with Retry-After when the service has no instance to pick', async () => {
    const m = setup();
    const a = await upstream(echo('a'));
    m.add('users', 'a', a.port, { status: 'DOWN' });
    const g = await started(m.discovery, { retryAfterMs: 2500 });
    const r = await get(g.port, '/users/1');
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('3');
    expect(r.json()).toMatchObject({
      error: 'no instance',
      service: 'users',
      registry: m.registry,
    });
    expect(a.seen).toEqual([]);
  });

  it('answers 502 naming the service and the last error once the retries are spent', async () => {
    const m = setup();
    m.add('users', 'a', await closedPort());
    m.add('users', 'b', await closedPort());
    const g = await started(m.discovery, { detector: false });
    const r = await get(g.port, '/users/1');
    expect(r.status).toBe(502);
    const body = r.json();
    expect(body).toMatchObject({ error: 'bad gateway', service: 'users' });
    expect(String(body.message)).toMatch(/ECONNREFUSED/);
    expect(String(body.message)).toMatch(/after 2 attempts/);
  });

  it('passes a 5xx answer of the upstream on as it is', async () => {
    const m = setup();
    const a = await upstream((_req, res) => {
      res.statusCode = 500;
      res.end('broken');
    });
    m.add('users', 'a', a.port);
    const g = await started(m.discovery, { detector: false });
    const r = await get(g.port, '/users/1');
    expect(r.status).toBe(500);
    expect(r.body).toBe('broken');
  });

  it('answers 504 past timeoutMs and aborts the upstream request', async () => {
    const m = setup();
    const a = await upstream(() => undefined); // never answers
    m.add('users', 'a', a.port);
    const g = await started(m.discovery, { timeoutMs: 300 });
    const r = await get(g.port, '/users/slow');
    expect(r.status).toBe(504);
    expect(r.json()).toMatchObject({ error: 'gateway timeout', service: 'users' });
    expect(a.seen.map((s) => s.url)).toEqual(['/slow']);
    await eventually(() => a.open.size === 0, 5000, 'the upstream request to be aborted');
  });

  it('answers /-/healthy for probes, and 404 for a path with no service', async () => {
    const m = setup();
    const g = await started(m.discovery);
    const healthy = await get(g.port, '/-/healthy');
    expect(healthy.status).toBe(200);
    expect(healthy.json()).toMatchObject({ status: 'ok' });
    expect((await get(g.port, '/')).status).toBe(404);
    expect((await get(g.port, '/-/nothing')).status).toBe(404);
  });

  it('mounts the status page at /-/status (unless status: false)', async () => {
    const { m, g } = await usersOnA();
    const page = await get(g.port, '/-/status');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const state = await get(g.port, '/-/status.json');
    expect(state.status).toBe(200);
    expect(state.body).toContain('"users"');
    const off = await started(m.discovery, { status: false });
    expect((await get(off.port, '/-/status')).status).toBe(404);
  });

  it('drain() ends the status event streams and closes each connection after its answer', async () => {
    const { g } = await usersOnA();
    const ended = new Promise<string>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: g.port, path: '/-/status/events', agent: false },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
            if (text.includes('event: state')) g.gw.drain();
          });
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(await ended).toContain('event: state');
    const agent = new Agent({ keepAlive: true });
    cleanups.push(async () => agent.destroy());
    const r = await get(g.port, '/users/1', { agent });
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe('close');
  });

  it('answers 503 after close(), to requests and upgrades', async () => {
    const { g } = await usersOnA();
    await g.gw.close();
    const r = await get(g.port, '/users/1');
    expect(r.status).toBe(503);
    expect(r.json()).toMatchObject({ error: 'closing' });
    const upgrade = await raw(
      g.port,
      'GET /users/ws HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    expect(statusOf(upgrade)).toBe(503);
    expect(upgrade.match(/connection: close/gi)).toHaveLength(1);
  });

  it('checks its options with one wording', () => {
    const m = setup();
    expect(() => gateway(m.discovery, { timeoutMs: -1 })).toThrow(ConfigError);
    expect(() => gateway(m.discovery, { timeoutMs: -1 })).toThrow(/timeoutMs must be/);
    expect(() => gateway(m.discovery, { balancer: 'fastest' as unknown as 'random' })).toThrow(
      /balancer must be one of 'round-robin'/,
    );
  });
});

describe('gateway: headers', () => {
  it('drops hop-by-hop headers both ways and sets X-Forwarded-For, -Proto and -Host', async () => {
    const m = setup();
    const a = await upstream((req, res) => {
      res.setHeader('x-seen', JSON.stringify(req.headers));
      res.setHeader('keep-alive', 'timeout=77');
      res.setHeader('x-private', 'hop');
      res.setHeader('connection', 'x-private');
      res.setHeader('x-end', 'kept');
      res.end('ok');
    });
    m.add('users', 'a', a.port);
    const g = await started(m.discovery);
    const r = await get(g.port, '/users/h', {
      headers: {
        host: 'api.example.com',
        connection: 'x-hop',
        'x-hop': 'dropped',
        'keep-alive': 'timeout=1',
        'proxy-authorization': 'Basic secret',
        te: 'trailers',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'forged',
        'x-kept': 'yes',
      },
    });
    const seen = JSON.parse(String(r.headers['x-seen'])) as Record<string, string>;
    for (const h of ['x-hop', 'keep-alive', 'proxy-authorization', 'te', 'upgrade', 'expect']) {
      expect(seen[h], h).toBeUndefined();
    }
    expect(seen['x-kept']).toBe('yes');
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe('api.example.com');
    expect(seen.host).toBe(`127.0.0.1:${a.port}`);
    expect(r.headers['x-private']).toBeUndefined();
    expect(r.headers['keep-alive']).not.toBe('timeout=77');
    expect(r.headers['x-end']).toBe('kept');
  });

  it('with trustProxy, appends the peer to X-Forwarded-For and keeps the client proxy values', async () => {
    const m = setup();
    const a = await upstream((req, res) => res.end(JSON.stringify(req.headers)));
    m.add('users', 'a', a.port);
    const g = await started(m.discovery, { trustProxy: true });
    const r = await get(g.port, '/users/h', {
      headers: {
        'x-forwarded-for': '10.1.2.3',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'edge',
      },
    });
    const seen = r.json();
    expect(seen['x-forwarded-for']).toBe('10.1.2.3, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('https');
    expect(seen['x-forwarded-host']).toBe('edge');
  });
});

describe('gateway: bodies', () => {
  it('streams a request body: the upstream has its first chunk before the client sent the rest', async () => {
    const m = setup();
    let firstChunk: (() => void) | undefined;
    const gotFirst = new Promise<void>((r) => {
      firstChunk = r;
    });
    let received = 0;
    const port = await own(
      createServer((req, res) => {
        req.once('data', () => firstChunk?.());
        req.on('data', (c: Buffer) => {
          received += c.length;
        });
        req.on('end', () => res.end(`got ${received}`));
      }),
    );
    m.add('upload', 'a', port);
    const g = await started(m.discovery);
    const answer = new Promise<string>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: g.port, path: '/upload/f', method: 'POST', agent: false },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString();
          });
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 1);
      req.write(chunk);
      // The rest is sent only once the upstream has seen the first chunk.
      void gotFirst.then(() => {
        for (let i = 0; i < 63; i++) req.write(chunk);
        req.end();
      });
    });
    expect(await answer).toBe(`got ${64 * 64 * 1024}`);
  });

  it('streams a response body: the client has its first chunk before the upstream sent the rest', async () => {
    const m = setup();
    let sendRest: (() => void) | undefined;
    const port = await own(
      createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(16 * 1024, 2));
        sendRest = () => {
          for (let i = 0; i < 255; i++) res.write(Buffer.alloc(16 * 1024, 2));
          res.end();
        };
      }),
    );
    m.add('download', 'a', port);
    const g = await started(m.discovery);
    const total = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: g.port, path: '/download/f', agent: false },
        (res) => {
          let n = 0;
          res.once('data', () => sendRest?.());
          res.on('data', (c: Buffer) => {
            n += c.length;
          });
          res.on('end', () => resolve(n));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(total).toBe(256 * 16 * 1024);
  });

  /** PUTs `hello` with Expect: 100-continue: the body is sent only once the gateway says 100. */
  const putExpecting = (port: number, path: string) =>
    new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
      let continued = false;
      const req = request({
        host: '127.0.0.1',
        port,
        path,
        method: 'PUT',
        agent: false,
        headers: { expect: '100-continue', 'content-length': '5' },
      });
      req.on('continue', () => {
        continued = true;
        req.end('hello');
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });

  it('answers Expect: 100-continue once routed, then forwards the body', async () => {
    const m = setup();
    const a = await upstream((req, res, body) =>
      res.end(`${req.headers.expect ?? 'no expect'} ${body}`),
    );
    m.add('users', 'a', a.port);
    const g = await started(m.discovery);
    expect(await putExpecting(g.port, '/users/u')).toEqual({
      continued: true,
      status: 200,
      body: 'no expect hello',
    });
  });

  it('answers 404 to Expect: 100-continue for an unknown service without inviting the body', async () => {
    const m = setup();
    const g = await started(m.discovery);
    expect(await putExpecting(g.port, '/nobody/u')).toMatchObject({
      continued: false,
      status: 404,
    });
  });
});

describe('gateway: upgrades', () => {
  it('passes a WebSocket upgrade through and pipes both ways', async () => {
    const m = setup();
    const upgraded: Socket[] = [];
    const server = createServer((_req, res) => res.end('not upgraded'));
    server.on('upgrade', (req, socket: Socket, head: Buffer) => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: for-${req.headers['sec-websocket-key']}\r\nX-Path: ${req.url}\r\n\r\n`,
      );
      if (head.length > 0) socket.write(head);
      upgraded.push(socket);
      socket.pipe(socket); // echo
    });
    const port = await own(server);
    m.add('chat', 'a', port);
    const g = await started(m.discovery);
    const result = await new Promise<{
      status: number;
      headers: Record<string, unknown>;
      echo: string;
    }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: g.port,
        path: '/chat/room/1',
        agent: false,
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-key': 'k1',
          'sec-websocket-version': '13',
        },
      });
      req.on('upgrade', (res, socket: Socket) => {
        socket.write('ping');
        socket.once('data', (c: Buffer) => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, echo: c.toString() });
          socket.destroy();
        });
      });
      req.on('response', () => reject(new Error('not upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(result.status).toBe(101);
    expect(result.headers['sec-websocket-accept']).toBe('for-k1');
    expect(result.headers['x-path']).toBe('/room/1');
    expect(result.headers.upgrade).toBe('websocket');
    expect(result.echo).toBe('ping');
    // The client closed its side: the gateway closes the instance's.
    await eventually(
      () => upgraded.every((u) => u.destroyed),
      5000,
      'the upstream socket to close',
    );
  });

  /** Sends an upgrade request through the gateway; its answer when not upgraded. */
  const notUpgraded = (port: number, path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port,
        path,
        agent: false,
        headers: { connection: 'Upgrade', upgrade: 'websocket' },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });

  it("passes on an instance's answer that does not upgrade", async () => {
    const m = setup();
    const port = await own(
      createServer((_req, res) => {
        res.statusCode = 403;
        res.end('no websockets here');
      }),
    );
    m.add('chat', 'a', port);
    const g = await started(m.discovery);
    expect(await notUpgraded(g.port, '/chat/ws')).toEqual({
      status: 403,
      body: 'no websockets here',
    });
  });

  it('answers an upgrade 502 when no instance accepts the connection', async () => {
    const m = setup();
    m.add('chat', 'a', await closedPort());
    const g = await started(m.discovery, { detector: false });
    const r = await notUpgraded(g.port, '/chat/ws');
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'bad gateway', service: 'chat' });
  });

  it('answers an upgrade for an unknown service with a 404', async () => {
    const m = setup();
    const g = await started(m.discovery);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: g.port,
        path: '/nobody/ws',
        agent: false,
        headers: { connection: 'Upgrade', upgrade: 'websocket' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(404);
  });
});

describe('gateway: counters', () => {
  it('counts picks and requests in flight per instance, and ejections', async () => {
    const m = setup();
    let release: (() => void) | undefined;
    const a = await upstream((_req, res) => {
      release = () => res.end('a');
    });
    const b = await upstream((_req, res) => {
      res.statusCode = 503;
      res.end('b');
    });
    m.add('users', 'a', a.port);
    m.add('users', 'b', b.port);
    const detector = createOutlierDetector({ consecutiveFailures: 1 });
    const g = await started(m.discovery, {
      detector,
      // a first, then b: the order this test relies on
      balancer: (instances$) =>
        instances$.pipe(healthy(), detector.operator(), roundRobin({ start: 'first' })),
    });
    const pending = get(g.port, '/users/1');
    await eventually(() => release !== undefined, 5000, 'the request to reach a');
    expect(g.gw.status.stats('users', 'a')).toMatchObject({ picks: 1, inFlight: 1 });
    expect((await get(g.port, '/users/2')).status).toBe(503); // b fails: ejected
    expect(g.gw.status.stats('users', 'b')).toEqual({
      picks: 1,
      inFlight: 0,
      ejected: true,
      ejections: 1,
    });
    release?.();
    expect((await pending).status).toBe(200);
    expect(g.gw.status.stats('users', 'a')).toMatchObject({
      picks: 1,
      inFlight: 0,
      ejected: false,
    });
  });
});

describe('gateway: a backend without catalog()', () => {
  /** memory:// without its registry-wide watch: catalog$() errors as on any such backend. */
  const withoutCatalog = () => {
    const m = memory();
    const { catalog: _dropped, ...backend } = memoryBackend(m.store);
    const d = createDiscovery(m.registry, async () => backend, { graceMs: 10 });
    cleanups.push(() => d.close());
    return { ...m, discovery: d };
  };

  it('routes from services$() and a watch per requested service, 404 for an unlisted one', async () => {
    const m = withoutCatalog();
    const a = await upstream(echo('a'));
    m.add('users', 'a', a.port);
    const g = await started(m.discovery);
    expect((await get(g.port, '/users/1')).body).toBe('a GET /1');
    const unknown = await get(g.port, '/orders/1');
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'unknown service', service: 'orders' });
    m.add('orders', 'a', a.port);
    const r = await askUntil(g.port, '/orders/2', (a) => a.status !== 404);
    expect(r.body).toBe('a GET /2');
  });

  it('shows every listed service on the status page, from services$() and instances$()', async () => {
    const m = withoutCatalog();
    const a = await upstream(echo('a'));
    m.add('users', 'a', a.port);
    m.add('orders', 'b', a.port);
    const g = await started(m.discovery);
    const state = await get(g.port, '/-/status.json');
    expect(state.status).toBe(200);
    expect(state.body).toContain('"users"');
    expect(state.body).toContain('"orders"');
  });
});

/**
 * discoveryDispatcher() against real loopback HTTP servers, through
 * undici.request, undici.fetch and Node's global fetch, over the memory
 * registry (the registry is not what is under test here).
 */
import { Readable } from 'node:stream';
import { map, type Observable } from 'rxjs';
import { getGlobalDispatcher, request, setGlobalDispatcher, fetch as undiciFetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import { type MemoryRegistry, memoryRegistry } from '../../../src/backends/memory/store.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import { toRecord } from '../../../src/core/codecs.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { isNoInstanceError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { Balancer, Outcome } from '../../../src/operators/balancers/balancer.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { isCallError } from '../../../src/operators/call-error.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';
import { type DiscoveryDispatcher, discoveryDispatcher } from '../../../src/undici/index.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { closedPort, echo, startServer, type TestServer } from './servers.js';

expectNoLeakedHandles();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let registries = 0;

/** A fresh memory registry, its discovery, and a way to add and remove instances. */
const setup = () => {
  const name = `undici-${++registries}`;
  const store: MemoryRegistry = memoryRegistry(name);
  const d: Discovery = memoryDiscovery(store, { graceMs: 10 });
  cleanups.push(() => d.close());
  const add = (service: string, id: string, port: number, extra: Record<string, unknown> = {}) =>
    store.put(
      service,
      id,
      toRecord(
        createInstance({ service, id, host: '127.0.0.1', port, ...extra }, `memory://${name}`),
      ),
    );
  const remove = (service: string, id: string) => store.delete(service, id);
  return { d, add, remove, registry: `memory://${name}` };
};

const server = async (behaviour: Parameters<typeof startServer>[0]): Promise<TestServer> => {
  const s = await startServer(behaviour);
  cleanups.push(() => s.close());
  return s;
};

const dispatcherOf = (d: Discovery, options: Parameters<typeof discoveryDispatcher>[1] = {}) => {
  const dispatcher = discoveryDispatcher(d, {
    retry: { budget: false, backoff: exponentialBackoff({ random: () => 0 }) },
    ...options,
  });
  cleanups.push(() => dispatcher.close());
  return dispatcher;
};

/** A round-robin balancer that logs what the dispatcher reports to it. */
const spyBalancer = (log: string[]) => (instances$: Observable<InstanceSet>) =>
  instances$.pipe(
    roundRobin({ start: 'first' }),
    map(
      (b): Balancer => ({
        set: b.set,
        size: b.size,
        pick: (key) => b.pick(key),
        started: (i) => {
          log.push(`start ${i.id}`);
          b.started(i);
        },
        finished: (i, o: Outcome) => {
          log.push(`end ${i.id} ${o.cancelled ? 'cancelled' : o.ok ? 'ok' : 'failed'}`);
          b.finished(i, o);
        },
      }),
    ),
  );

const text = async (
  dispatcher: DiscoveryDispatcher,
  url: string,
  init: Parameters<typeof request>[1] = {},
) => {
  const res = await request(url, { ...init, dispatcher });
  return `${res.statusCode} ${await res.body.text()}`;
};

describe('discoveryDispatcher()', () => {
  it('sends http://<service>/path?query to the instances in turn with undici.request, path and query kept', async () => {
    const { d, add } = setup();
    const a = await server(echo('a'));
    const b = await server(echo('b'));
    add('hello', 'a', a.port);
    add('hello', 'b', b.port);
    const dispatcher = dispatcherOf(d, {
      balancer: (i$) => i$.pipe(roundRobin({ start: 'first' })),
    });
    const answers = [];
    for (let k = 0; k < 4; k++) answers.push(await text(dispatcher, `http://hello/x/${k}?q=${k}`));
    expect(answers).toEqual([
      '200 a GET /x/0?q=0',
      '200 b GET /x/1?q=1',
      '200 a GET /x/2?q=2',
      '200 b GET /x/3?q=3',
    ]);
  });

  it('works with undici.fetch and with Node’s global fetch (dispatcher option)', async () => {
    const { d, add } = setup();
    const a = await server((req, res, body) => res.end(`a ${req.method} ${req.url} ${body}`));
    add('hello', 'a', a.port);
    const dispatcher = dispatcherOf(d);
    const viaUndici = await undiciFetch('http://hello/u?x=1', { dispatcher });
    expect(await viaUndici.text()).toBe('a GET /u?x=1 ');
    // Node's own fetch (its bundled undici, 6.x on Node 20) takes an undici 7 dispatcher;
    // its RequestInit types name the dispatcher of its own undici-types
    const init = { method: 'POST', body: 'payload', dispatcher } as unknown as RequestInit;
    const viaNode = await fetch('http://hello/n', init);
    expect(viaNode.status).toBe(200);
    expect(await viaNode.text()).toBe('a POST /n payload');
  });

  it('serves Node’s global fetch through setGlobalDispatcher(), and composed interceptors', async () => {
    const { d, add } = setup();
    const a = await server(echo('a'));
    const other = await server(echo('other'));
    add('hello', 'a', a.port);
    const dispatcher = dispatcherOf(d);
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(dispatcher);
    try {
      expect(await (await fetch('http://hello/global')).text()).toBe('a GET /global');
      // origins that are not services still work, through the fallback
      expect(await (await fetch(`http://127.0.0.1:${other.port}/`)).text()).toBe('other GET /');
    } finally {
      setGlobalDispatcher(previous);
    }
    // interceptors hand the dispatcher undici's controller-based handlers
    const headers: string[] = [];
    const composed = dispatcher.compose((dispatch) => (opts, handler) => {
      headers.push(String(opts.path));
      return dispatch(opts, handler);
    });
    const res = await request('http://hello/composed', { dispatcher: composed });
    expect(`${res.statusCode} ${await res.body.text()}`).toBe('200 a GET /composed');
    expect(headers).toEqual(['/composed']);
  });

  it('keeps one keep-alive pool per instance: sequential requests reuse its connections', async () => {
    const { d, add } = setup();
    const a = await server(echo('a'));
    const b = await server(echo('b'));
    add('hello', 'a', a.port);
    const dispatcher = dispatcherOf(d);
    for (let k = 0; k < 20; k++)
      expect(await text(dispatcher, 'http://hello/')).toBe('200 a GET /');
    // undici may open a second socket while the first is being released, never one per request
    expect(a.connections).toBeLessThanOrEqual(2);
    // the pool options apply to each instance's pool
    add('other', 'b', b.port);
    const one = dispatcherOf(d, { pool: { connections: 1 } });
    for (let k = 0; k < 20; k++) expect(await text(one, 'http://other/')).toBe('200 b GET /');
    expect(b.connections).toBe(1);
  });

  it('closes an instance’s pool once it left the set and its in-flight request is done', async () => {
    const { d, add, remove } = setup();
    let release: () => void = () => undefined;
    const slow = await server((_req, res) => {
      res.write('first half, ');
      release = () => res.end('second half');
    });
    const b = await server(echo('b'));
    add('hello', 'a', slow.port);
    const dispatcher = dispatcherOf(d);
    const inFlight = await request('http://hello/slow', { dispatcher });
    expect(inFlight.statusCode).toBe(200);
    add('hello', 'b', b.port);
    remove('hello', 'a');
    // the next request goes to b, while a's request is still running
    expect(await text(dispatcher, 'http://hello/next')).toBe('200 b GET /next');
    expect(slow.open.size).toBe(1);
    release();
    expect(await inFlight.body.text()).toBe('first half, second half');
    await eventually(() => slow.open.size === 0, 5000, "a's connection to close");
    expect(b.open.size).toBe(1); // b's pool stays
  });

  it('retries an idempotent request on another instance when the connection fails before the response', async () => {
    const { d, add } = setup();
    const log: string[] = [];
    const reset = await server((req) => req.socket.destroy());
    const b = await server(echo('b'));
    add('hello', 'a', reset.port);
    add('hello', 'b', b.port);
    const dispatcher = dispatcherOf(d, { balancer: spyBalancer(log) });
    expect(await text(dispatcher, 'http://hello/get')).toBe('200 b GET /get');
    expect(log).toEqual(['start a', 'end a failed', 'start b', 'end b ok']);
    expect(reset.seen.map((s) => s.url)).toEqual(['/get']);
  });

  it('retries a non-idempotent request only when its connection was refused', async () => {
    const { d, add } = setup();
    const refusedPort = await closedPort();
    const reset = await server((req) => req.socket.destroy());
    const c = await server((req, res, body) => res.end(`c ${req.method} ${body}`));
    add('hello', 'a', refusedPort);
    add('hello', 'b', reset.port);
    add('hello', 'c', c.port);
    const log: string[] = [];
    const dispatcher = dispatcherOf(d, { balancer: spyBalancer(log) });
    // a refuses (not sent: retried), b resets after reading the request (may have run it: not retried)
    const error = await request('http://hello/post', {
      method: 'POST',
      body: 'once',
      dispatcher,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCallError(error)).toBe(true);
    expect(log).toEqual(['start a', 'end a failed', 'start b', 'end b failed']);
    expect(reset.seen).toHaveLength(1);
    expect(c.seen).toHaveLength(0);
    // marked idempotent, the same request is retried on c
    log.length = 0;
    expect(
      await text(dispatcher, 'http://hello/post', {
        method: 'POST',
        body: 'again',
        idempotent: true,
      }),
    ).toBe('200 c POST again');
  });

  it('does not retry a request whose body is a one-shot stream', async () => {
    const { d, add } = setup();
    const reset = await server((req) => req.socket.destroy());
    const b = await server(echo('b'));
    add('hello', 'a', reset.port);
    add('hello', 'b', b.port);
    const dispatcher = dispatcherOf(d, {
      balancer: (i$) => i$.pipe(roundRobin({ start: 'first' })),
    });
    const error = await request('http://hello/put', {
      method: 'PUT',
      body: Readable.from(['chunk 1, ', 'chunk 2']),
      dispatcher,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCallError(error) && error.attempts.length).toBe(1);
    expect(reset.seen).toEqual([{ method: 'PUT', url: '/put', body: 'chunk 1, chunk 2' }]);
    expect(b.seen).toHaveLength(0);
  });

  it('retries nothing once the response has started: the caller gets the error', async () => {
    const { d, add } = setup();
    const broken = await server((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setImmediate(() => res.socket?.destroy());
    });
    const b = await server(echo('b'));
    add('hello', 'a', broken.port);
    add('hello', 'b', b.port);
    const log: string[] = [];
    const dispatcher = dispatcherOf(d, { balancer: spyBalancer(log) });
    const res = await request('http://hello/stream', { dispatcher });
    expect(res.statusCode).toBe(200);
    await expect(res.body.text()).rejects.toThrow();
    expect(b.seen).toHaveLength(0);
    expect(log).toEqual(['start a', 'end a failed']);
  });

  it('feeds the outcome to the outlier detector: an instance answering 5xx is ejected (the 5xx passed on as is)', async () => {
    const { d, add } = setup();
    const failing = await server((_req, res) => {
      res.statusCode = 503;
      res.end('down');
    });
    const b = await server(echo('b'));
    add('hello', 'a', failing.port);
    add('hello', 'b', b.port);
    const detector = createOutlierDetector({ consecutiveFailures: 1 });
    const dispatcher = dispatcherOf(d, {
      detector,
      balancer: (i$) => i$.pipe(detector.operator(), roundRobin({ start: 'first' })),
    });
    expect(await text(dispatcher, 'http://hello/1')).toBe('503 down');
    for (let k = 2; k <= 4; k++)
      expect(await text(dispatcher, `http://hello/${k}`)).toBe(`200 b GET /${k}`);
    expect(failing.seen).toHaveLength(1);
  });

  it('fails at once with a NoInstanceError naming the service and registry when the set is empty', async () => {
    const { d, add, remove, registry } = setup();
    const dispatcher = dispatcherOf(d);
    const error = await request('http://nobody/', { dispatcher }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isNoInstanceError(error)).toBe(true);
    expect(error).toMatchObject({ service: 'nobody', registry });
    expect((error as Error).message).toContain("service 'nobody'");
    // with fetch: its TypeError carries it as the cause
    const a = await server(echo('a'));
    add('gone', 'a', a.port);
    expect(await text(dispatcher, 'http://gone/')).toBe('200 a GET /');
    remove('gone', 'a');
    await eventually(() => dispatcher.balancer('gone').set?.size === 0, 5000, 'the empty set');
    const t0 = performance.now();
    const fetchError = await undiciFetch('http://gone/', { dispatcher }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(isNoInstanceError((fetchError as Error).cause)).toBe(true);
  });

  it('sends origins that are not services to the fallback dispatcher', async () => {
    const { d } = setup();
    const plain = await server(echo('plain'));
    const dispatcher = dispatcherOf(d);
    expect(await text(dispatcher, `http://127.0.0.1:${plain.port}/direct`)).toBe(
      '200 plain GET /direct',
    );
  });

  it('passes the caller’s abort on: the attempt is aborted and counted as cancelled', async () => {
    const { d, add } = setup();
    const hang = await server(() => undefined);
    add('hello', 'a', hang.port);
    const log: string[] = [];
    const dispatcher = dispatcherOf(d, { balancer: spyBalancer(log) });
    const controller = new AbortController();
    const pending = undiciFetch('http://hello/hang', { dispatcher, signal: controller.signal });
    await eventually(() => hang.seen.length === 1, 5000, 'the request to arrive');
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(log).toEqual(['start a', 'end a cancelled']);
  });
});

import { createHash } from 'node:crypto';
import { createServer, get, type IncomingMessage, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  asyncScheduler,
  finalize,
  Observable,
  type SchedulerLike,
  type Subscription,
  throwError,
} from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import { MemoryRegistry } from '../../../src/backends/memory/store.js';
import type { Catalog } from '../../../src/core/catalog.js';
import { toRecord } from '../../../src/core/codecs.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { ConfigError } from '../../../src/core/errors.js';
import { createInstance, type Instance } from '../../../src/core/instance.js';
import { instanceSet } from '../../../src/core/instance-set.js';
import { type StatusPageOptions, statusPage } from '../../../src/gateway/status.js';
import type { InstanceStats, StatusSource } from '../../../src/gateway/status-source.js';
import type { StatusState } from '../../../src/gateway/status-state.js';
import { catalogOf } from '../../helpers/catalog.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';

// No timer, socket or server of the page outlives the tests.
expectNoLeakedHandles();

// ---- test data: a memory registry and the gateway's counters, set by hand ----

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

let storeCount = 0;
const registryWith = (): { store: MemoryRegistry; d: Discovery } => {
  const store = new MemoryRegistry(`status-${++storeCount}`);
  const d = memoryDiscovery(store, { graceMs: 0, onProblem: () => undefined });
  cleanup.push(() => d.close());
  return { store, d };
};

const put = (store: MemoryRegistry, service: string, id: string, port = 8080): void => {
  store.put(
    service,
    id,
    toRecord(
      createInstance(
        { id, service, host: '127.0.0.1', port, zone: 'z1' },
        `memory://${store.name}`,
      ),
    ),
  );
};

/** The gateway's counters, as a StatusSource reads them. */
class Counters {
  readonly #m = new Map<string, InstanceStats>();
  set(service: string, id: string, s: Partial<InstanceStats>): void {
    this.#m.set(`${service}/${id}`, { picks: 0, inFlight: 0, ejected: false, ejections: 0, ...s });
  }
  get = (service: string, id: string): InstanceStats | undefined => this.#m.get(`${service}/${id}`);
}

const sourceOf = (d: Discovery, counters = new Counters()): StatusSource => ({
  registry: d.registry,
  catalog$: d.catalog$(),
  stats: counters.get,
});

// ---- a real node:http server with the page mounted, and clients of it ----

/** Serves the page on 127.0.0.1:0; the server side of each connection goes in `sockets`. */
const serve = async (
  source: StatusSource,
  options: StatusPageOptions = {},
  sockets: Socket[] = [],
): Promise<number> => {
  const status = statusPage(source, options);
  const server = createServer((req, res) => {
    if (!status(req, res)) res.writeHead(418).end('not the status page');
  });
  server.on('connection', (s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return (server.address() as AddressInfo).port;
};

interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

const fetchText = (port: number, path: string, method = 'GET'): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });

interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/** An event-stream client: every event and comment kept, waited on by predicate. */
const openEvents = (port: number) => {
  const seen: SseEvent[] = [];
  const waiters: { pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
  let buffer = '';
  let ended: () => void = () => undefined;
  const closed = new Promise<void>((r) => {
    ended = r;
  });
  let closeIt: () => void = () => undefined;
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/-/status/events' }, (res) => {
      resolve(res);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) event = 'comment';
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
            else if (line.startsWith('retry: ')) event = 'retry';
          }
          const e = { event, data: data.join('\n') };
          seen.push(e);
          for (const w of [...waiters]) {
            if (w.pred(e)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(e);
            }
          }
        }
      });
      res.on('close', ended);
    });
    req.on('error', reject);
    cleanup.push(() => {
      req.destroy();
    });
    closeIt = () => req.destroy();
  });
  // A test that never reads the response must not leave an unhandled rejection.
  response.catch(() => undefined);
  /** The first event (seen or to come) that satisfies `pred`. */
  const next = (pred: (e: SseEvent) => boolean): Promise<SseEvent> => {
    const already = seen.find(pred);
    if (already !== undefined) return Promise.resolve(already);
    return new Promise((resolve) => waiters.push({ pred, resolve }));
  };
  const json = async <T>(event: string, pred: (d: T) => boolean = () => true): Promise<T> =>
    JSON.parse((await next((e) => e.event === event && pred(JSON.parse(e.data) as T))).data) as T;
  return { response, seen, next, json, closed, close: () => closeIt() };
};

interface CatalogEventData {
  readonly stale: boolean;
  readonly staleSince: number | null;
  readonly error: string | null;
  readonly services: StatusState['services'];
  readonly removed: readonly string[];
}
interface StatsEventData {
  readonly changes: readonly (readonly [string, string, number, number, boolean, number])[];
}

/** A scheduler that keeps the actions it scheduled, to see that none is left. */
const trackingScheduler = (): SchedulerLike & { readonly live: Set<Subscription> } => {
  const live = new Set<Subscription>();
  const inner = asyncScheduler.schedule.bind(asyncScheduler) as (
    ...args: unknown[]
  ) => Subscription;
  const schedule = (...args: unknown[]): Subscription => {
    const s = inner(...args);
    live.add(s);
    s.add(() => live.delete(s));
    return s;
  };
  return { live, now: () => asyncScheduler.now(), schedule: schedule as SchedulerLike['schedule'] };
};

// ---- the tests ----

describe('statusPage() routes', () => {
  it('answers every path under /-/status and leaves every other one alone', async () => {
    const { d } = registryWith();
    const port = await serve(sourceOf(d));
    expect((await fetchText(port, '/-/statusx')).status).toBe(418);
    expect((await fetchText(port, '/hello/-/status')).status).toBe(418);
    const missing = await fetchText(port, '/-/status/nope');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ error: 'no status resource at /-/status/nope' });
    const post = await fetchText(port, '/-/status.json', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect((await fetchText(port, '/-/status/events', 'HEAD')).status).toBe(405);
  });

  it('checks its options when made, in the one wording', () => {
    const { d } = registryWith();
    expect(() => statusPage(sourceOf(d), { maxClients: 0 })).toThrow(
      /^maxClients must be an integer >= 1 \(got 0\)/,
    );
    expect(() => statusPage(sourceOf(d), { statsIntervalMs: 0 })).toThrow(
      /^statsIntervalMs must be/,
    );
    expect(() => statusPage(sourceOf(d), { heartbeatMs: Number.NaN })).toThrow(
      /^heartbeatMs must be/,
    );
  });
});

describe('/-/status.json', () => {
  it('lists every service and instance with staleness and the gateway counters (zeros before a first request)', async () => {
    const { store, d } = registryWith();
    put(store, 'hello', 'h1', 8081);
    put(store, 'hello', 'h2', 8082);
    put(store, 'world', 'w1');
    const counters = new Counters();
    counters.set('hello', 'h2', { picks: 7, inFlight: 2, ejected: true, ejections: 1 });
    const port = await serve(sourceOf(d, counters));
    const reply = await fetchText(port, '/-/status.json');
    expect(reply.status).toBe(200);
    expect(reply.headers['cache-control']).toBe('no-store');
    const state = JSON.parse(reply.body) as StatusState;
    expect(state).toMatchObject({
      registry: d.registry,
      stale: false,
      staleSince: null,
      error: null,
    });
    expect(state.services.map((s) => s.name)).toEqual(['hello', 'world']);
    expect(state.services[0]!.instances).toEqual([
      {
        id: 'h1',
        address: '127.0.0.1:8081',
        secure: false,
        status: 'UP',
        zone: 'z1',
        picks: 0,
        inFlight: 0,
        ejected: false,
        ejections: 0,
      },
      expect.objectContaining({ id: 'h2', picks: 7, inFlight: 2, ejected: true, ejections: 1 }),
    ]);
  });

  it('answers 503 naming the fault when the catalog fails, and when it does not come in time', async () => {
    const failing: StatusSource = {
      registry: 'static://x',
      catalog$: throwError(
        () =>
          new ConfigError('catalog$', 'is not offered by this registry yet', 'use instances$()'),
      ),
      stats: () => undefined,
    };
    const reply = await fetchText(await serve(failing), '/-/status.json');
    expect(reply.status).toBe(503);
    expect(JSON.parse(reply.body).error).toMatch(/catalog\$ is not offered by this registry yet/);
    const silent: StatusSource = {
      registry: 'x://',
      catalog$: new Observable(),
      stats: () => undefined,
    };
    const late = await fetchText(await serve(silent, { firstStateTimeoutMs: 20 }), '/-/status');
    expect(late.status).toBe(503);
    expect(late.headers['retry-after']).toBe('5');
    expect(JSON.parse(late.body).error).toBe("the registry's catalog did not arrive within 20 ms");
  });
});

describe('/-/status (the page)', () => {
  it('escapes every registry-provided string, so a hostile name is text and not markup', async () => {
    const registry = 'memory://hostile';
    const name = '<script>window.pwned=1</script>';
    const id = '"><img src=x onerror="window.pwned=1">';
    const base = createInstance(
      { id, service: 'x', host: '10.0.0.1', port: 80, zone: "a&b'c" },
      registry,
    );
    const instance: Instance = { ...base, service: name };
    const source: StatusSource = {
      registry,
      catalog$: new Observable<Catalog>((s) =>
        s.next(catalogOf(registry, [instanceSet(name, registry, [instance])])),
      ),
      stats: () => undefined,
    };
    const page = await fetchText(await serve(source), '/-/status');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).not.toContain(name);
    expect(page.body).not.toContain('<img');
    expect(page.body).toContain('&lt;script&gt;window.pwned=1&lt;/script&gt;');
    expect(page.body).toContain(
      'data-id="&quot;&gt;&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;"',
    );
    expect(page.body).toContain('<td class="zone">a&amp;b&#39;c</td>');
  });

  it('allows its one inline script and style by hash in a CSP that allows nothing else', async () => {
    const { store, d } = registryWith();
    put(store, 'hello', 'h1');
    const page = await fetchText(await serve(sourceOf(d)), '/-/status');
    const csp = page.headers['content-security-policy']!;
    const scripts = [...page.body.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    const styles = [...page.body.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    expect(styles).toHaveLength(1);
    const sha = (t: string) => `'sha256-${createHash('sha256').update(t).digest('base64')}'`;
    expect(csp).toContain(`script-src ${sha(scripts[0]!)};`);
    expect(csp).toContain(`style-src ${sha(styles[0]!)};`);
    expect(csp).toMatch(/^default-src 'none'; /);
    expect(csp).toContain("connect-src 'self'");
    expect(page.body).not.toMatch(/ style=| on[a-z]+=|src=|href=/);
    expect(page.body).toContain('<section class="service fresh" data-service="hello">');
  });
});

describe('/-/status/events', () => {
  it('sends the full state first, then only the services that changed and the counters that moved', async () => {
    const { store, d } = registryWith();
    put(store, 'hello', 'h1', 8081);
    put(store, 'hello', 'h2', 8082);
    const counters = new Counters();
    const port = await serve(sourceOf(d, counters), { statsIntervalMs: 10 });
    const client = openEvents(port);
    const res = await client.response;
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const state = await client.json<StatusState>('state');
    expect(state.services.map((s) => [s.name, s.instances.map((i) => i.id)])).toEqual([
      ['hello', ['h1', 'h2']],
    ]);

    put(store, 'world', 'w1');
    const added = await client.json<CatalogEventData>('catalog');
    expect(added.services.map((s) => s.name)).toEqual(['world']);
    expect(added.removed).toEqual([]);

    counters.set('hello', 'h2', { picks: 3, inFlight: 1 });
    const stats = await client.json<StatsEventData>('stats');
    expect(stats.changes).toEqual([['hello', 'h2', 3, 1, false, 0]]);

    store.delete('hello', 'h1');
    const shrunk = await client.json<CatalogEventData>(
      'catalog',
      (c) => c.services[0]?.name === 'hello',
    );
    expect(shrunk.services[0]!.instances.map((i) => i.id)).toEqual(['h2']);
    store.delete('world', 'w1');
    const gone = await client.json<CatalogEventData>('catalog', (c) => c.removed.length > 0);
    expect(gone).toEqual({
      stale: false,
      staleSince: null,
      error: null,
      services: [],
      removed: ['world'],
    });
  });

  it('marks the registry and every service stale, with since when and why, while the registry is away', async () => {
    const { store, d } = registryWith();
    put(store, 'hello', 'h1');
    const client = openEvents(await serve(sourceOf(d)));
    await client.json<StatusState>('state');
    const before = Date.now();
    store.setAvailable(false);
    const stale = await client.json<CatalogEventData>('catalog', (c) => c.stale);
    expect(stale.staleSince).toBeGreaterThanOrEqual(before - 1);
    expect(stale.error).toMatch(/simulated outage/);
    expect(stale.services.map((s) => [s.name, s.stale, s.staleSince])).toEqual([
      ['hello', true, stale.staleSince],
    ]);
    store.setAvailable(true);
    const fresh = await client.json<CatalogEventData>('catalog', (c) => !c.stale);
    expect(fresh.services.map((s) => [s.name, s.stale])).toEqual([['hello', false]]);
  });

  it('sends heartbeat comments', async () => {
    const { d } = registryWith();
    const client = openEvents(await serve(sourceOf(d), { heartbeatMs: 10 }));
    expect(await client.next((e) => e.event === 'comment')).toEqual({ event: 'comment', data: '' });
  });

  it('refuses a client past maxClients with 503 and Retry-After, and takes one again once a client left', async () => {
    const { d } = registryWith();
    let teardowns = 0;
    let tornDown: () => void = () => undefined;
    const source: StatusSource = {
      ...sourceOf(d),
      catalog$: d.catalog$().pipe(
        finalize(() => {
          teardowns++;
          tornDown();
        }),
      ),
    };
    const port = await serve(source, { maxClients: 1 });
    const first = openEvents(port);
    await first.json('state');
    const refused = await fetchText(port, '/-/status/events');
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(JSON.parse(refused.body)).toEqual({ error: 'too many status streams open (at most 1)' });
    const left = new Promise<void>((r) => {
      tornDown = r;
    });
    first.close();
    await left;
    expect(teardowns).toBe(1);
    const again = openEvents(port);
    expect((await again.response).statusCode).toBe(200);
    await again.json('state');
  });

  it("releases a client's share when it disconnects, and the catalog subscription and every timer with the last one", async () => {
    const { store, d } = registryWith();
    put(store, 'hello', 'h1');
    const counters = new Counters();
    let subscribed = 0;
    let unsubscribed: () => void = () => undefined;
    const catalog$ = d.catalog$();
    const source: StatusSource = {
      ...sourceOf(d, counters),
      catalog$: new Observable<Catalog>((s) => {
        subscribed++;
        const sub = catalog$.subscribe(s);
        return () => {
          subscribed--;
          sub.unsubscribe();
          unsubscribed();
        };
      }),
    };
    const scheduler = trackingScheduler();
    const port = await serve(source, { statsIntervalMs: 10, heartbeatMs: 10, scheduler });
    const a = openEvents(port);
    const b = openEvents(port);
    await a.json('state');
    await b.json('state');
    expect(subscribed).toBe(1);
    expect(scheduler.live.size).toBe(2);

    a.close();
    await a.closed;
    counters.set('hello', 'h1', { picks: 1 });
    expect((await b.json<StatsEventData>('stats')).changes).toEqual([
      ['hello', 'h1', 1, 0, false, 0],
    ]);
    expect(subscribed).toBe(1);

    const released = new Promise<void>((r) => {
      unsubscribed = r;
    });
    b.close();
    await released;
    expect(subscribed).toBe(0);
    expect(scheduler.live.size).toBe(0);

    // A later client starts over, with the current counters.
    const c = openEvents(port);
    const state = await c.json<StatusState>('state');
    expect(state.services[0]!.instances[0]!.picks).toBe(1);
    expect(subscribed).toBe(1);
  });

  it('cuts a client that stopped reading once maxBufferedBytes wait unsent, and keeps serving the others', async () => {
    const registry = 'memory://busy';
    const ids = Array.from({ length: 2000 }, (_, n) => `instance-${n}`);
    const set = instanceSet(
      'busy',
      registry,
      ids.map((id) =>
        createInstance({ service: 'busy', id, host: '10.0.0.1', port: 80 }, registry),
      ),
    );
    let calls = 0;
    const source: StatusSource = {
      registry,
      catalog$: new Observable<Catalog>((s) => s.next(catalogOf(registry, [set]))),
      // Every instance moves on every tick: a stats frame of every instance each time.
      stats: () => ({ picks: ++calls, inFlight: 0, ejected: false, ejections: 0 }),
    };
    const sockets: Socket[] = [];
    const port = await serve(source, { statsIntervalMs: 5, maxBufferedBytes: 64 * 1024 }, sockets);
    const stalled = openEvents(port);
    (await stalled.response).pause();
    const cut = new Promise((r) => sockets[0]!.once('close', r));
    const reading = openEvents(port);
    await reading.json('state');
    // The server closes its side of the stalled stream (the paused client cannot see it yet).
    await cut;
    const before = reading.seen.length;
    await reading.next((e) => e.event === 'stats' && reading.seen.indexOf(e) >= before);
  });

  it('close() ends every open stream and refuses new ones, so that a shutdown does not wait for watchers', async () => {
    const { store, d } = registryWith();
    put(store, 'hello', 'h1');
    const status = statusPage(sourceOf(d));
    const server = createServer((req, res) => {
      if (!status(req, res)) res.writeHead(418).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => {
      server.closeAllConnections();
    });
    const port = (server.address() as AddressInfo).port;
    const client = openEvents(port);
    await client.json('state');
    status.close();
    await client.closed;
    const refused = await fetchText(port, '/-/status/events');
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body).error).toMatch(/closed/);
    expect((await fetchText(port, '/-/status.json')).status).toBe(200);
    // Nothing of the page holds the server open.
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends a failure event and ends every stream when the catalog fails for good', async () => {
    const failing: StatusSource = {
      registry: 'static://x',
      catalog$: throwError(
        () =>
          new ConfigError('catalog$', 'is not offered by this registry yet', 'use instances$()'),
      ),
      stats: () => undefined,
    };
    const client = openEvents(await serve(failing));
    const failure = await client.json<{ error: string }>('failure');
    expect(failure.error).toMatch(/catalog\$ is not offered by this registry yet/);
    await client.closed;
  });
});

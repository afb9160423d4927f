/**
 * The status page in a real browser: Debian's headless Chromium, driven by
 * playwright-core, opens `/-/status` of a gateway on a real `node:http`
 * server over a memory registry with real upstream servers, and follows
 * what the page shows as the registry changes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium, type Page } from 'playwright-core';
import { BehaviorSubject, Observable, Subject, type Subscription } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import { MemoryRegistry } from '../../../src/backends/memory/store.js';
import type { Catalog } from '../../../src/core/catalog.js';
import { toRecord } from '../../../src/core/codecs.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { createInstance, type Instance } from '../../../src/core/instance.js';
import { instanceSet } from '../../../src/core/instance-set.js';
import { gateway } from '../../../src/gateway/index.js';
import { statusPage } from '../../../src/gateway/status.js';
import type { StatusSource } from '../../../src/gateway/status-source.js';
import { catalogOf } from '../../helpers/catalog.js';
import { ensureChromium } from '../../servers/chromium.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { FaultProxy } from '../etcd/fault-proxy.js';
import { jsonValue, rawClient, testDiscovery } from '../etcd/harness.js';

/** Each wait on the page; a test may wait several times. */
const WAIT = { timeout: 15_000 };
const TEST_TIMEOUT = 90_000;

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: await ensureChromium(),
    headless: true,
    // Root in a container: no user namespaces for Chromium's sandbox.
    args: ['--no-sandbox'],
  });
});
afterAll(async () => {
  await browser?.close();
});

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const listen = async (server: Server): Promise<number> => {
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

/** A real upstream that answers every request with its name. */
const upstream = (name: string): Promise<number> =>
  listen(createServer((_req, res) => res.end(name)));

/** A page of the browser, with every console error and page error kept. */
const open = async (url: string): Promise<{ page: Page; errors: string[] }> => {
  const context = await browser.newContext();
  cleanup.push(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  const response = await page.goto(url);
  expect(response?.status()).toBe(200);
  await page.locator('#connection', { hasText: 'live' }).waitFor(WAIT);
  return { page, errors };
};

/** The gateway over `d`, with its status page, on a real server as the CLI sets it up. */
const mount = async (d: Discovery): Promise<number> => {
  const gw = gateway(d, { status: { statsIntervalMs: 100 } });
  cleanup.push(() => gw.close());
  const server = createServer(gw);
  server.on('checkContinue', gw).on('upgrade', gw.upgrade).on('clientError', gw.clientError);
  return listen(server);
};

let registries = 0;
/** A memory registry and the gateway over it, with its status page. */
const gatewayWithStatus = async () => {
  const store = new MemoryRegistry(`status-browser-${++registries}`);
  const d = memoryDiscovery(store, { graceMs: 0, onProblem: () => undefined });
  return { store, d, port: await mount(d) };
};

const row = (page: Page, service: string, id: string) =>
  page.locator(`section[data-service="${service}"] tr[data-id="${id}"]`);

describe('the status page in headless Chromium', () => {
  it(
    'shows every instance with its counters live, and an instance that deregisters disappears',
    async () => {
      const { store, d, port } = await gatewayWithStatus();
      const registrations: Subscription[] = [];
      for (const id of ['h1', 'h2']) {
        const upstreamPort = await upstream(id);
        const registered = new Promise<void>((resolve) => {
          registrations.push(
            d
              .register({ service: 'hello', id, host: '127.0.0.1', port: upstreamPort, zone: 'z1' })
              .subscribe((e) => {
                if (e.type === 'registered') resolve();
              }),
          );
        });
        await registered;
      }
      cleanup.push(() => {
        for (const r of registrations) r.unsubscribe();
      });

      const { page, errors } = await open(`http://127.0.0.1:${port}/-/status`);
      await row(page, 'hello', 'h1').waitFor(WAIT);
      await row(page, 'hello', 'h2').waitFor(WAIT);
      await expect
        .poll(() => page.locator('section[data-service="hello"] .badge').textContent(), WAIT)
        .toBe('fresh');

      // A service that appears goes in its place by name.
      store.put(
        'alpha',
        'a1',
        toRecord(
          createInstance(
            { service: 'alpha', id: 'a1', host: '127.0.0.1', port: 8080 },
            'memory://',
          ),
        ),
      );
      await row(page, 'alpha', 'a1').waitFor(WAIT);
      expect(await page.locator('section.service .name').allTextContents()).toEqual([
        'alpha',
        'hello',
      ]);
      store.delete('alpha', 'a1');
      await page.locator('section[data-service="alpha"]').waitFor({ state: 'detached', ...WAIT });

      // A request through the gateway shows up in its instance's picks.
      const answered = await (await fetch(`http://127.0.0.1:${port}/hello/x`)).text();
      await page
        .locator(`section[data-service="hello"] tr[data-id="${answered}"] td.picks`, {
          hasText: /^1$/,
        })
        .waitFor(WAIT);

      // h1 deregisters: its row goes from the page that is already open, h2 stays.
      registrations[0]!.unsubscribe();
      await row(page, 'hello', 'h1').waitFor({ state: 'detached', ...WAIT });
      expect(await row(page, 'hello', 'h2').count()).toBe(1);
      expect(await page.locator('section[data-service="hello"] .count').textContent()).toBe(
        '1 instance',
      );

      // The last one goes: so does the service.
      registrations[1]!.unsubscribe();
      await page.locator('section[data-service="hello"]').waitFor({ state: 'detached', ...WAIT });
      await page.locator('#empty').waitFor({ state: 'visible', ...WAIT });
      expect(errors).toEqual([]);
    },
    TEST_TIMEOUT,
  );

  it(
    'shows a registry that is away as stale, since when and why, and fresh again when it is back',
    async () => {
      const { store, port } = await gatewayWithStatus();
      store.put(
        'hello',
        'h1',
        toRecord(
          createInstance(
            { service: 'hello', id: 'h1', host: '127.0.0.1', port: 8080 },
            'memory://',
          ),
        ),
      );
      const { page, errors } = await open(`http://127.0.0.1:${port}/-/status`);
      await row(page, 'hello', 'h1').waitFor(WAIT);

      store.setAvailable(false);
      await page.locator('#registry.stale .badge.stale').waitFor(WAIT);
      await page.locator('section.service.stale[data-service="hello"]').waitFor(WAIT);
      const since = await page.locator('section[data-service="hello"] .since').textContent();
      expect(since).toMatch(/^since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z: .*simulated outage/);
      // The last known instance is still listed.
      expect(await row(page, 'hello', 'h1').count()).toBe(1);

      store.setAvailable(true);
      await page.locator('#registry.fresh .badge.fresh').waitFor(WAIT);
      await page.locator('section.service.fresh[data-service="hello"]').waitFor(WAIT);
      expect(await page.locator('section[data-service="hello"] .since').textContent()).toBe('');
      expect(errors).toEqual([]);
    },
    TEST_TIMEOUT,
  );

  it(
    'shows hostile names and ids as text: no markup from the registry runs or renders',
    async () => {
      const registry = 'memory://hostile';
      const hostileService = '<script>window.pwned=1</script>';
      const hostileId = '"><img src=x onerror="window.pwned=2"><b>bold</b>';
      const instance = (service: string, id: string): Instance => ({
        ...createInstance(
          { service: 'x', id, host: '10.0.0.1', port: 80, zone: '<i>z</i>' },
          registry,
        ),
        service,
      });
      // Rendered by the server first, then arriving over the event stream.
      const first = instanceSet(hostileService, registry, [instance(hostileService, hostileId)]);
      const catalogs = new BehaviorSubject(catalogOf(registry, [first]));
      const source: StatusSource = {
        registry,
        catalog$: new Observable<Catalog>((s) => catalogs.subscribe(s)),
        stats: () => undefined,
      };
      const status = statusPage(source);
      const port = await listen(
        createServer((req, res) => {
          if (!status(req, res)) res.writeHead(404).end();
        }),
      );
      const { page, errors } = await open(`http://127.0.0.1:${port}/-/status`);
      const later = `${hostileService}<svg onload="window.pwned=3">`;
      catalogs.next(
        catalogOf(registry, [
          first,
          instanceSet(later, registry, [instance(later, `${hostileId}2`)]),
        ]),
      );
      await page.locator('section.service .name', { hasText: later }).waitFor(WAIT);

      for (const text of [hostileService, later, hostileId, `${hostileId}2`]) {
        expect(await page.getByText(text, { exact: true }).count(), text).toBe(1);
      }
      expect(await page.getByText('<i>z</i>', { exact: true }).count()).toBe(2);
      expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
      expect(await page.locator('img, svg, b, i, main script').count()).toBe(0);
      expect(await page.locator('script').count()).toBe(1);
      expect(errors).toEqual([]);
    },
    TEST_TIMEOUT,
  );
});

describe('the status page in headless Chromium, when the catalog fails', () => {
  it(
    'says the stream failed and why',
    async () => {
      const { store, d } = await gatewayWithStatus();
      store.put(
        'hello',
        'h1',
        toRecord(
          createInstance(
            { service: 'hello', id: 'h1', host: '127.0.0.1', port: 8080 },
            'memory://',
          ),
        ),
      );
      const fail = new Subject<never>();
      const catalog$ = d.catalog$();
      const source: StatusSource = {
        registry: d.registry,
        catalog$: new Observable<Catalog>((s) => {
          const sub = catalog$.subscribe(s);
          sub.add(fail.subscribe({ error: (e: unknown) => s.error(e) }));
          return sub;
        }),
        stats: () => undefined,
      };
      const status = statusPage(source);
      const port = await listen(
        createServer((req, res) => {
          if (!status(req, res)) res.writeHead(404).end();
        }),
      );
      const { page } = await open(`http://127.0.0.1:${port}/-/status`);
      await row(page, 'hello', 'h1').waitFor(WAIT);
      fail.error(new Error('the registry refused us for good'));
      await page
        .locator('#connection', { hasText: 'failed: the registry refused us for good' })
        .waitFor(WAIT);
    },
    TEST_TIMEOUT,
  );
});

describe('the status page in headless Chromium, over etcd', () => {
  let etcd: EtcdCluster;
  let proxy: FaultProxy;
  beforeAll(async () => {
    etcd = await startEtcd();
    proxy = await FaultProxy.start(etcd.endpoints[0]!);
  });
  afterAll(async () => {
    await proxy?.close();
    await etcd?.destroy();
  });

  it(
    'shows the registry as stale while the connection to etcd is cut, and fresh once it is back',
    async () => {
      const raw = rawClient(etcd.endpoints);
      cleanup.push(() => raw.close());
      const value = jsonValue({ id: 'e1', service: 'hello', host: '127.0.0.1', port: 8080 });
      await raw.put('/status/hello/e1').value(value);
      const d = testDiscovery(`etcd://${proxy.endpoint}/status/`);
      cleanup.push(() => d.close());
      const { page, errors } = await open(`http://127.0.0.1:${await mount(d)}/-/status`);
      await row(page, 'hello', 'e1').waitFor(WAIT);
      await page.locator('#registry.fresh').waitFor(WAIT);

      proxy.block();
      cleanup.push(() => proxy.unblock());
      await page.locator('#registry.stale .badge.stale').waitFor(WAIT);
      await page.locator('section.service.stale[data-service="hello"]').waitFor(WAIT);
      expect(await page.locator('#registry .since').textContent()).toMatch(/^since \d{4}-/);
      expect(await row(page, 'hello', 'e1').count()).toBe(1);

      proxy.unblock();
      await page.locator('#registry.fresh .badge.fresh').waitFor(WAIT);
      await page.locator('section.service.fresh[data-service="hello"]').waitFor(WAIT);
      expect(errors).toEqual([]);
    },
    TEST_TIMEOUT,
  );
});

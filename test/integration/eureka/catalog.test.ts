/**
 * The Eureka catalog against a real server, beyond the conformance cases:
 * the catalog, the per-service streams and the views of the catalog all
 * fed by the one shared poller (one full fetch between them), with the
 * same Instance objects (one decode path); a watch past
 * `catalogViewsPast` as a view, a watch of an upper-case name kept on its
 * own stream; a dead peer listed first.
 */
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeInstanceInfo, type RefreshReport } from '../../../src/backends/eureka/index.js';
import type { Discovery } from '../../../src/core/discovery.js';
import type { RxdiscoError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EurekaServer, startEureka } from '../../servers/eureka.js';
import { freePort } from '../../servers/process.js';
import { deleteInstance, postInstance, rawInstanceInfo, testDiscovery } from './harness.js';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 120_000 });
expectNoLeakedHandles();

const PATIENCE = 30_000;
let server: EurekaServer;
const opened: Discovery[] = [];
const open = (d: Discovery): Discovery => {
  opened.push(d);
  return d;
};

beforeAll(async () => {
  server = await startEureka();
});

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await server?.stop();
});

const post = (service: string, id: string, port: number) =>
  postInstance(
    server.base,
    service.toUpperCase(),
    rawInstanceInfo({ service, id, host: '127.0.0.1', port }),
  );

describe('the Eureka catalog', () => {
  it('shares the one poller with the per-service streams and the views: one full fetch, the same Instance objects', async () => {
    const reports: RefreshReport[] = [];
    const d = open(
      testDiscovery(server.url, [], { onRefresh: (r) => reports.push(r), catalogViewsPast: 1 }),
    );
    // zone, metadata and an OUT_OF_SERVICE status, as another Eureka client registers them
    const rich = createInstance(
      {
        service: 'cat-rich',
        id: 'r1',
        host: '127.0.0.1',
        port: 18_201,
        zone: 'zone-b',
        metadata: { version: '2.0.1' },
      },
      'eureka://',
    );
    await postInstance(
      server.base,
      'CAT-RICH',
      encodeInstanceInfo(rich, {
        durationInSecs: 3600,
        renewalIntervalInSecs: 30,
        dirtyAt: Date.now(),
        status: 'OUT_OF_SERVICE',
      }),
    );
    await post('cat-view', 'v1', 18_202);
    const catalog$ = d.catalog$();
    const subs: Subscription[] = [catalog$.subscribe()];
    const own$ = d.instances$('cat-rich'); // the first watch: a stream of its own
    subs.push(own$.subscribe());
    const view$ = d.instances$('cat-view'); // past catalogViewsPast: a view of the catalog
    subs.push(view$.subscribe());
    const own = await waitFor(own$, (s) => s.size === 1, PATIENCE, 'cat-rich');
    const view = await waitFor(view$, (s) => s.size === 1, PATIENCE, 'cat-view');
    const catalog = await waitFor(
      catalog$,
      (c) => c.has('cat-rich') && c.has('cat-view'),
      PATIENCE,
      'both in the catalog',
    );
    expect(own.instances[0]).toMatchObject({
      service: 'cat-rich',
      status: 'OUT_OF_SERVICE',
      zone: 'zone-b',
      metadata: { version: '2.0.1' },
    });
    // one decode path: the catalog holds the very Instance the service's own stream holds
    expect(catalog.get('cat-rich')!.instances[0]).toBe(own.instances[0]);
    expect(view).toBe(catalog.get('cat-view')); // a view emits the catalog's set itself

    // a change reaches the catalog and the view, by deltas of the same poller
    await post('cat-view', 'v2', 18_203);
    await waitFor(view$, (s) => s.size === 2, PATIENCE, 'v2 in the view');
    await deleteInstance(server.base, 'CAT-VIEW', 'v1');
    await waitFor(view$, (s) => s.size === 1 && s.get('v2') !== undefined, PATIENCE, 'v1 gone');
    const deltas = (): number => reports.filter((r) => r.kind === 'delta').length;
    const before = deltas();
    await eventually(() => deltas() >= before + 5, PATIENCE, 'five more polls');
    // one poller for the three: one full fetch (two pollers would make two)
    expect(reports.filter((r) => r.kind === 'full' && r.mismatch !== true)).toHaveLength(1);
    for (const s of subs) s.unsubscribe();
  });

  it('keeps a watch of an upper-case service name on its own stream, with its own name, past catalogViewsPast', async () => {
    const d = open(testDiscovery(server.url, [], { catalogViewsPast: 0 }));
    await post('cat-upper', 'u1', 18_204);
    const lower = await waitFor(d.instances$('cat-upper'), (s) => s.size === 1, PATIENCE, 'lower');
    const upper = await waitFor(d.instances$('Cat-Upper'), (s) => s.size === 1, PATIENCE, 'upper');
    expect(lower.instances[0]!.service).toBe('cat-upper');
    expect(upper.instances[0]!.service).toBe('Cat-Upper');
  });

  it('stays fresh through a dead peer listed first', async () => {
    const dead = await freePort();
    const problems: RxdiscoError[] = [];
    const d = open(
      testDiscovery(`eureka://127.0.0.1:${dead},127.0.0.1:${server.port}/eureka`, problems),
    );
    await post('cat-peers', 'p1', 18_205);
    const c = await waitFor(d.catalog$(), (c) => c.has('cat-peers'), PATIENCE, 'via the peer');
    expect(c.stale).toBe(false);
    expect(problems).toEqual([]);
  });
});

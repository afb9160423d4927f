/**
 * 500 services watched through the catalog-view path (every `instances$()`
 * a view of the one prefix watch, `catalogViewsPast: 0`) while a writer
 * adds, updates and removes instances of random services: the watch is cut
 * while its revision is compacted, or the cluster's leader is killed. At
 * the end every view of every watcher holds exactly what etcd holds (read
 * back from etcd itself), fresh: nothing missed, nothing left over.
 */
import type { Etcd3 } from 'etcd3';
import { filter, firstValueFrom, type Subscription, timeout } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { type OpenWatcher, openWatcher } from '../../../src/backends/etcd/prefix-watch.js';
import type { Discovery } from '../../../src/core/discovery.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { FaultProxy } from './fault-proxy.js';
import { jsonValue, leaderOf, rawClient, retry as retryWrite, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const SERVICES = 500;
/** The last 50 services start with no instance (the churn makes some appear). */
const STARTING_EMPTY = 50;
const PATIENCE = 60_000;
const LONG = 240_000;

const name = (k: number): string => `svc-${String(k).padStart(3, '0')}`;
const NAMES = Array.from({ length: SERVICES }, (_, k) => name(k));

const clusters: EtcdCluster[] = [];
const clients: Etcd3[] = [];
const proxies: FaultProxy[] = [];
const opened: Discovery[] = [];

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  for (const c of clients) c.close();
  for (const p of proxies) await p.close();
  for (const c of clusters) await c.destroy();
});

/** Retries an idempotent write until the cluster takes it. */
const retry = <T>(write: () => Promise<T>): Promise<T> => retryWrite(write, PATIENCE);

/** A deterministic pseudo-random sequence (the same churn on every run). */
const random = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};

/**
 * Writes the starting instances (2 per service, none for the last
 * STARTING_EMPTY), then, while running, adds (new ids), updates (new port)
 * and removes instances of random services, one write at a time.
 */
const churner = (raw: Etcd3, prefix: string) => {
  const next = random(11);
  const known = new Map<string, string[]>(NAMES.map((n) => [n, []]));
  let serial = 0;
  let writes = 0;
  let running = false;
  let done: Promise<void> = Promise.resolve();
  const put = (service: string, id: string) =>
    retry(() =>
      raw
        .put(`${prefix}${service}/${id}`)
        .value(jsonValue({ id, service, host: '127.0.0.1', port: 1 + (serial++ % 60_000) }))
        .exec(),
    );
  const step = async (): Promise<void> => {
    const service = NAMES[Math.floor(next() * SERVICES)]!;
    const ids = known.get(service)!;
    const r = next();
    if (ids.length === 0 || r < 0.4) {
      const id = `i${serial}`;
      await put(service, id);
      ids.push(id);
    } else if (r < 0.65) {
      await put(service, ids[Math.floor(next() * ids.length)]!);
    } else {
      const [id] = ids.splice(Math.floor(next() * ids.length), 1);
      await retry(() => raw.delete().key(`${prefix}${service}/${id}`).exec());
    }
    writes++;
  };
  return {
    seed: async (): Promise<void> => {
      const writes: Promise<unknown>[] = [];
      for (let k = 0; k < SERVICES - STARTING_EMPTY; k++) {
        for (const id of ['a', 'b']) {
          known.get(name(k))!.push(id);
          writes.push(put(name(k), id));
        }
        if (writes.length >= 200) await Promise.all(writes.splice(0));
      }
      await Promise.all(writes);
    },
    start: (): void => {
      running = true;
      done = (async () => {
        while (running) await step();
      })();
    },
    /** Resolves once `n` more writes were made. */
    after: async (n: number): Promise<void> => {
      const target = writes + n;
      await eventually(() => writes >= target, PATIENCE, `${n} more writes`);
    },
    stop: async (): Promise<void> => {
      running = false;
      await done;
    },
    get writes() {
      return writes;
    },
  };
};

/** What etcd holds under `prefix`, per service: `id:port` sorted. */
const truth = async (raw: Etcd3, prefix: string): Promise<Map<string, string>> => {
  const res = await retry(() => raw.getAll().prefix(prefix).exec());
  const per = new Map<string, string[]>(NAMES.map((n) => [n, []]));
  for (const kv of res.kvs) {
    const [service, id] = kv.key.toString().slice(prefix.length).split('/') as [string, string];
    const port = (JSON.parse(kv.value.toString()) as { port: number }).port;
    per.get(service)!.push(`${id}:${port}`);
  }
  return new Map([...per].map(([s, xs]) => [s, xs.sort().join(',')]));
};

const shown = (s: InstanceSet): string =>
  s.instances
    .map((i) => `${i.id}:${i.port}`)
    .sort()
    .join(',');

/** A watcher of every service through catalog views: the last set of each. */
const watchEvery = (d: Discovery) => {
  const last = new Map<string, InstanceSet>();
  const subs: Subscription[] = NAMES.map((n) => d.instances$(n).subscribe((s) => last.set(n, s)));
  return {
    last,
    /** Services whose view is not exactly `want` (fresh). */
    wrong: (want: Map<string, string>): string[] =>
      NAMES.filter((n) => {
        const s = last.get(n);
        return s === undefined || s.stale || shown(s) !== want.get(n);
      }),
    stop: () => {
      for (const s of subs) s.unsubscribe();
    },
  };
};

const untilExact = async (
  watchers: ReturnType<typeof watchEvery>[],
  want: Map<string, string>,
  what: string,
): Promise<void> => {
  await eventually(() => watchers.every((w) => w.wrong(want).length === 0), PATIENCE, what);
  for (const w of watchers) expect(w.wrong(want)).toEqual([]);
};

/** Records the start revision of every watcher the backend opens. */
const spyWatchers = () => {
  const starts: number[] = [];
  const open: OpenWatcher = (client, prefix, revision) => {
    starts.push(revision);
    return openWatcher(client, prefix, revision);
  };
  return { starts, open };
};

describe('etcd: 500 services watched as catalog views, under churn', () => {
  it(
    'every view ends exact after its watch was cut while its revision was compacted',
    async () => {
      const etcd = await startEtcd();
      clusters.push(etcd);
      const raw = rawClient(etcd.endpoints);
      clients.push(raw);
      const proxy = await FaultProxy.start(etcd.endpoints[0]!);
      proxies.push(proxy);
      const prefix = '/churn-compact/';
      const churn = churner(raw, prefix);
      await churn.seed();
      const spies = [spyWatchers(), spyWatchers()];
      const watchers = spies.map((spy) => {
        const d = testDiscovery(`etcd://${proxy.endpoint}${prefix}`, [], {
          catalogViewsPast: 0,
          openWatcher: spy.open,
        });
        opened.push(d);
        return { d, views: watchEvery(d) };
      });
      await untilExact(
        watchers.map((w) => w.views),
        await truth(raw, prefix),
        'every first set',
      );
      churn.start();
      await churn.after(200);
      const stale = (d: Discovery) =>
        firstValueFrom(
          d.catalog$().pipe(
            filter((c) => c.stale),
            timeout(PATIENCE),
          ),
        );
      let compactedAt: number;
      proxy.block();
      try {
        await Promise.all(watchers.map((w) => stale(w.d)));
        // Changes while they are away, then their revision compacted away.
        await churn.after(200);
        const { header } = await raw.get('anything').exec();
        compactedAt = Number(header.revision);
        await raw.kv.compact({ revision: header.revision, physical: true });
        await churn.after(50);
      } finally {
        proxy.unblock();
      }
      await churn.after(200);
      await churn.stop();
      await untilExact(
        watchers.map((w) => w.views),
        await truth(raw, prefix),
        'every view exact after the compaction',
      );
      for (const spy of spies) {
        // one watch of the whole prefix: resumed from a compacted revision, then re-read past it
        expect(spy.starts.some((r) => r <= compactedAt)).toBe(true);
        expect(spy.starts[spy.starts.length - 1]).toBeGreaterThan(compactedAt);
      }
      for (const w of watchers) w.views.stop();
    },
    LONG,
  );

  it(
    'every view ends exact after the leader of a 3-member cluster was killed',
    async () => {
      const etcd = await startEtcd({ size: 3 });
      clusters.push(etcd);
      const raw = rawClient(etcd.endpoints);
      clients.push(raw);
      const prefix = '/churn-leader/';
      const churn = churner(raw, prefix);
      await churn.seed();
      const leader = await leaderOf(etcd, raw);
      // One watcher knows only the leader (it waits for its return and
      // catches up from its revision), one knows every member (it fails over).
      const watchers = [[leader.endpoint], etcd.endpoints].map((endpoints) => {
        const d = testDiscovery(`etcd://${endpoints.join(',')}${prefix}`, [], {
          catalogViewsPast: 0,
        });
        opened.push(d);
        return { d, views: watchEvery(d) };
      });
      const views = watchers.map((w) => w.views);
      await untilExact(views, await truth(raw, prefix), 'every first set');
      churn.start();
      await churn.after(200);
      await leader.kill();
      // the watcher of the leader alone sees it go
      await firstValueFrom(
        watchers[0]!.d.catalog$().pipe(
          filter((c) => c.stale),
          timeout(PATIENCE),
        ),
      );
      let restarted = false;
      try {
        await churn.after(200);
      } finally {
        await leader.start();
        restarted = true;
      }
      await churn.after(200);
      await churn.stop();
      expect(restarted).toBe(true);
      await untilExact(views, await truth(raw, prefix), 'every view exact after the leader kill');
      for (const w of views) w.stop();
    },
    LONG,
  );
});

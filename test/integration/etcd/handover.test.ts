/**
 * Own watches hand over to their catalog views on a real etcd: the first
 * `catalogViewsPast` watches have their own etcd watcher; once a further
 * watch opens the catalog, each own watch switches to its view and its
 * watcher is cancelled, so etcd itself counts one watcher (the catalog's
 * prefix watch). The subscribers of the own watches see no extra emission
 * and keep receiving changes through their views.
 */
import type { Etcd3 } from 'etcd3';
import { filter, firstValueFrom, timeout, timer } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { jsonValue, rawClient, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 30_000;

let etcd: EtcdCluster;
let raw: Etcd3;

beforeAll(async () => {
  etcd = await startEtcd();
  raw = rawClient(etcd.endpoints);
}, 120_000);

afterAll(async () => {
  raw?.close();
  await etcd?.destroy();
});

/** etcd's own count of watchers, from its /metrics. */
const watchersOnEtcd = async (): Promise<number> => {
  const text = await (await fetch(`http://${etcd.endpoints[0]}/metrics`)).text();
  return Number(/^etcd_debugging_mvcc_watcher_total (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
};

/** Polls etcd until it counts `n` watchers. */
const untilWatchers = async (n: number): Promise<void> => {
  let seen = Number.NaN;
  const deadline = Date.now() + PATIENCE;
  while (seen !== n) {
    if (Date.now() > deadline) throw new Error(`etcd holds ${seen} watchers, not ${n}`);
    seen = await watchersOnEtcd();
    if (seen !== n) await firstValueFrom(timer(20));
  }
};

describe('own watches hand over to catalog views (etcd)', () => {
  it('past catalogViewsPast, the own watchers are cancelled once their views match: one watcher on etcd, nothing seen twice', async () => {
    const prefix = '/handover/';
    const names = ['a', 'b', 'c', 'd', 'e'];
    for (const s of names) {
      await raw
        .put(`${prefix}${s}/1`)
        .value(jsonValue({ id: '1', service: s, host: '127.0.0.1', port: 9001 }))
        .exec();
    }
    const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`, [], { catalogViewsPast: 3 });
    const seen = new Map<string, InstanceSet[]>(names.map((s) => [s, []]));
    const ends: string[] = [];
    const subscribe = (s: string) =>
      d.instances$(s).subscribe({
        next: (set) => seen.get(s)!.push(set),
        error: () => ends.push(`${s} error`),
        complete: () => ends.push(`${s} complete`),
      });
    try {
      const own = ['a', 'b', 'c'].map(subscribe);
      await eventually(() => ['a', 'b', 'c'].every((s) => seen.get(s)!.length === 1), PATIENCE);
      await untilWatchers(3);
      // Past the threshold: views, which open the catalog; the own ones hand over.
      const views = ['d', 'e'].map(subscribe);
      await untilWatchers(1);
      await eventually(() => ['d', 'e'].every((s) => seen.get(s)!.length === 1), PATIENCE);
      for (const s of names) expect(seen.get(s)!.map((set) => set.size)).toEqual([1]);
      // A change to a handed-over service reaches it, through its view.
      await raw
        .put(`${prefix}a/2`)
        .value(jsonValue({ id: '2', service: 'a', host: '127.0.0.1', port: 9002 }))
        .exec();
      await firstValueFrom(
        d.instances$('a').pipe(
          filter((set) => set.size === 2),
          timeout(PATIENCE),
        ),
      );
      await eventually(() => seen.get('a')!.length === 2, PATIENCE);
      expect(seen.get('a')!.map((set) => set.instances.map((i) => i.id).join())).toEqual([
        '1',
        '1,2',
      ]);
      expect(seen.get('b')!.map((set) => set.size)).toEqual([1]);
      expect(await watchersOnEtcd()).toBe(1);
      expect(ends).toEqual([]);
      for (const s of [...own, ...views]) s.unsubscribe();
      await untilWatchers(0);
    } finally {
      await d.close();
    }
  }, 120_000);
});

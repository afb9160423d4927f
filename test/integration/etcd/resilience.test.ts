/**
 * etcd-specific resilience: compaction while a watcher is away, the etcd3
 * client's watch failures (#72 compacted watch ends with an error, #114
 * silent stall), lease expiry during a partition, revoke on unsubscribe.
 */
import type { Etcd3, Watcher } from 'etcd3';
import { firstValueFrom, type Observable, take, timeout, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientHolder, resolveEtcdOptions } from '../../../src/backends/etcd/client.js';
import { type OpenWatcher, openWatcher } from '../../../src/backends/etcd/prefix-watch.js';
import { etcdSource } from '../../../src/backends/etcd/source.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { isRegistryUnavailableError, type RxdiscoError } from '../../../src/core/errors.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import type { SourceEvent } from '../../../src/core/watch.js';
import { parseRegistryUrl } from '../../../src/registry-url.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { FaultProxy } from './fault-proxy.js';
import { jsonValue, rawClient, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 10_000;
let etcd: EtcdCluster;
let raw: Etcd3;
let proxy: FaultProxy;
const opened: Discovery[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  raw = rawClient(etcd.endpoints);
  proxy = await FaultProxy.start(etcd.endpoints[0]!);
});

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  raw?.close();
  await proxy?.close();
  await etcd?.destroy();
});

let serial = 0;
const unique = (name: string): string => `${name}-${++serial}`;
const ids = (s: InstanceSet): string => s.instances.map((i) => i.id).join(',');
const put = (prefix: string, service: string, id: string, port: number) =>
  raw.put(`${prefix}${service}/${id}`).value(jsonValue({ id, service, host: '127.0.0.1', port }));
const del = (prefix: string, service: string, id: string) =>
  raw.delete().key(`${prefix}${service}/${id}`);

/** Records the start revision of every watcher the backend opens; can mute watchers. */
const spyWatchers = () => {
  const starts: number[] = [];
  const mute = { data: false, connected: false };
  const open: OpenWatcher = (client, prefix, revision) => {
    starts.push(revision);
    const w: Watcher = openWatcher(client, prefix, revision);
    if (mute.data || mute.connected) {
      // Simulates the etcd3 client's silent stall: events stop reaching us.
      const muted = { ...mute };
      const emit = w.emit.bind(w);
      w.emit = (event: string | symbol, ...args: unknown[]) =>
        (event === 'data' && muted.data) || (event === 'connected' && muted.connected)
          ? false
          : emit(event, ...args);
    }
    return w;
  };
  return { starts, mute, open };
};

describe('etcd resilience', () => {
  it('recovers with a full re-read when its revision was compacted while it was disconnected', async () => {
    const prefix = '/compaction/';
    const service = unique('cmp');
    const spy = spyWatchers();
    const problems: RxdiscoError[] = [];
    const d = testDiscovery(`etcd://${proxy.endpoint}${prefix}`, problems, {
      openWatcher: spy.open,
    });
    opened.push(d);
    await put(prefix, service, 'a', 18001);
    await put(prefix, service, 'b', 18002);
    const set$ = d.instances$(service);
    const sub = set$.subscribe();
    await waitFor(set$, (s) => ids(s) === 'a,b' && !s.stale, PATIENCE, 'a,b');
    const firstStart = spy.starts[0]!;
    proxy.block();
    try {
      await waitFor(set$, (s) => s.stale, PATIENCE, 'the set to go stale');
      await del(prefix, service, 'a');
      await put(prefix, service, 'c', 18003);
      await put(prefix, service, 'd', 18004);
      await del(prefix, service, 'd');
      const { header } = await raw.get('anything').exec();
      await raw.kv.compact({ revision: header.revision, physical: true });
    } finally {
      proxy.unblock();
    }
    const after = await waitFor(
      set$,
      (s) => !s.stale && ids(s) === 'b,c',
      PATIENCE * 2,
      'b,c after the compaction',
    );
    expect(ids(after)).toBe('b,c');
    // it resumed from its compacted revision first, then re-read and watched from after the read
    expect(spy.starts.filter((r) => r === firstStart).length).toBeGreaterThanOrEqual(2);
    expect(spy.starts.some((r) => r > firstStart)).toBe(true);
    // and the set stays live afterwards
    await put(prefix, service, 'e', 18005);
    await waitFor(set$, (s) => ids(s) === 'b,c,e', PATIENCE, 'e after recovery');
    sub.unsubscribe();
  });

  it('starts with a snapshot, not an error, when resumed from a compacted revision (etcd3 #72)', async () => {
    const prefix = '/compacted-resume/';
    const service = unique('cr');
    await put(prefix, service, 'x', 18010);
    const r = await put(prefix, service, 'y', 18011);
    await del(prefix, service, 'x');
    await raw.kv.compact({ revision: r.header.revision, physical: true });
    const config = parseRegistryUrl(`etcd://${etcd.endpoints[0]}${prefix}`);
    if (config.kind !== 'etcd') throw new Error('not etcd');
    const options = resolveEtcdOptions({ callTimeoutMs: 2000 });
    const clients = clientHolder(config, options);
    try {
      const source = etcdSource(
        { clients, options, context: { registry: config.url } },
        prefix,
        service,
        config.url,
      );
      // resume from before the compaction, with 'x' believed present
      const resume = { revision: Number(r.header.revision) - 1, keys: 1 };
      const events = await firstValueFrom(
        (source(resume) as Observable<SourceEvent>).pipe(take(2), toArray(), timeout(PATIENCE)),
      );
      const snapshot = events.find((e) => e.type === 'snapshot');
      expect(snapshot).toBeDefined();
      expect(snapshot?.type === 'snapshot' && snapshot.instances.map((i) => i.id)).toEqual(['y']);
    } finally {
      clients.close();
    }
  });

  it('reopens a watch that silently stopped delivering (etcd3 #114 stall) via the watchdog', async () => {
    const prefix = '/stall/';
    const service = unique('stall');
    const spy = spyWatchers();
    const problems: RxdiscoError[] = [];
    const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`, problems, {
      openWatcher: spy.open,
      watchdogIntervalMs: 200,
    });
    opened.push(d);
    await put(prefix, service, 's1', 18020);
    spy.mute.data = true; // the first watcher will never deliver a change
    const set$ = d.instances$(service);
    const sub = set$.subscribe();
    await waitFor(set$, (s) => ids(s) === 's1', PATIENCE, 's1');
    spy.mute.data = false; // watchers opened from now on work
    await put(prefix, service, 's2', 18021);
    await del(prefix, service, 's1');
    await waitFor(set$, (s) => ids(s) === 's2' && !s.stale, PATIENCE, 's2 despite the stall');
    expect(spy.starts.length).toBeGreaterThanOrEqual(2);
    expect(problems.some((p) => isRegistryUnavailableError(p) && /behind/.test(p.message))).toBe(
      true,
    );
    sub.unsubscribe();
  });

  it('reopens a stalled watch that owes only a deletion (its key count is off by one), via the watchdog', async () => {
    const prefix = '/stall-delete/';
    const service = unique('stalld');
    let muted = false; // read at every event: mutes the live watcher from now on
    const open: OpenWatcher = (client, p, revision) => {
      const w: Watcher = openWatcher(client, p, revision);
      const emit = w.emit.bind(w);
      w.emit = (event: string | symbol, ...args: unknown[]) =>
        event === 'data' && muted ? false : emit(event, ...args);
      return w;
    };
    const problems: RxdiscoError[] = [];
    const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`, problems, {
      openWatcher: open,
      watchdogIntervalMs: 200,
    });
    opened.push(d);
    await put(prefix, service, 'd1', 18030);
    await put(prefix, service, 'd2', 18031);
    const set$ = d.instances$(service);
    const sub = set$.subscribe();
    await waitFor(set$, (s) => ids(s) === 'd1,d2', PATIENCE, 'd1,d2');
    // created and updated through the live watch: the watch counts 3 keys
    await put(prefix, service, 'd3', 18032);
    await put(prefix, service, 'd3', 18033);
    await waitFor(set$, (s) => s.get('d3')?.port === 18033, PATIENCE, 'd3 updated');
    muted = true;
    await del(prefix, service, 'd1'); // nothing written since the cursor, one key fewer
    await eventually(
      () => problems.some((p) => isRegistryUnavailableError(p) && /behind/.test(p.message)),
      PATIENCE,
      'the watchdog to find the watch behind',
    );
    muted = false;
    await waitFor(set$, (s) => ids(s) === 'd2,d3' && !s.stale, PATIENCE, 'd1 gone');
    sub.unsubscribe();
  });

  it('reopens a watch whose creation never completes', async () => {
    const prefix = '/stall-create/';
    const service = unique('stallc');
    const spy = spyWatchers();
    const problems: RxdiscoError[] = [];
    const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`, problems, {
      openWatcher: spy.open,
      watchCreateTimeoutMs: 300,
    });
    opened.push(d);
    await put(prefix, service, 'c1', 18025);
    spy.mute.connected = true;
    spy.mute.data = true;
    const set$ = d.instances$(service);
    const sub = set$.subscribe();
    await waitFor(set$, (s) => ids(s) === 'c1', PATIENCE, 'c1');
    spy.mute.connected = false;
    spy.mute.data = false;
    await put(prefix, service, 'c2', 18026);
    await waitFor(set$, (s) => ids(s) === 'c1,c2' && !s.stale, PATIENCE, 'c2 after the reopen');
    expect(problems.some((p) => /was not created within 300 ms/.test(p.message))).toBe(true);
    sub.unsubscribe();
  });

  it('loses the key when keepalives stop past the TTL, then registers it again', async () => {
    const prefix = '/lease-expiry/';
    const service = unique('exp');
    const d = testDiscovery(`etcd://${proxy.endpoint}${prefix}`, [], { callTimeoutMs: 500 });
    opened.push(d);
    const events: RegistrationEvent[] = [];
    const reg = d
      .register(
        { service, host: '127.0.0.1', port: 18030, id: 'e1' },
        { ttlMs: 2000, backoff: exponentialBackoff({ initialMs: 50, maxMs: 500 }) },
      )
      .subscribe((e) => events.push(e));
    const key = `${prefix}${service}/e1`;
    const present = async () => (await raw.get(key).string()) !== null;
    await eventually(() => events.some((e) => e.type === 'registered'), PATIENCE, 'registered');
    expect(await present()).toBe(true);
    proxy.block();
    try {
      const deadline = Date.now() + PATIENCE;
      while (await present()) {
        if (Date.now() > deadline) throw new Error('the key outlived its TTL');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      proxy.unblock();
    }
    await eventually(
      () => events.some((e) => e.type === 'reregistered'),
      PATIENCE * 2,
      'reregistered',
    );
    const deadline = Date.now() + PATIENCE;
    while (!(await present())) {
      if (Date.now() > deadline) throw new Error('the key did not come back');
      await new Promise((r) => setTimeout(r, 100));
    }
    const types = events.map((e) => e.type);
    expect(types.indexOf('lost')).toBeGreaterThan(0);
    expect(types.indexOf('reregistered')).toBeGreaterThan(types.indexOf('lost'));
    reg.unsubscribe();
    await d.settled();
  });

  it('revokes the lease on unsubscribe: the key goes at once, not after the TTL', async () => {
    const prefix = '/revoke/';
    const service = unique('rev');
    const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`);
    opened.push(d);
    const events: RegistrationEvent[] = [];
    const reg = d
      .register({ service, host: '127.0.0.1', port: 18040, id: 'r1' }, { ttlMs: 60_000 })
      .subscribe((e) => events.push(e));
    await eventually(() => events.some((e) => e.type === 'registered'), PATIENCE, 'registered');
    const kv = (await raw.getAll().prefix(`${prefix}${service}/`).exec()).kvs[0]!;
    expect(kv.lease).not.toBe('0');
    const ttl = await raw.leaseClient.leaseTimeToLive({ ID: kv.lease });
    expect(Number(ttl.TTL)).toBeGreaterThan(50);
    const t0 = Date.now();
    reg.unsubscribe();
    await d.settled();
    expect(await raw.get(`${prefix}${service}/r1`).string()).toBeNull();
    expect(Date.now() - t0).toBeLessThan(5000);
    const after = await raw.leaseClient.leaseTimeToLive({ ID: kv.lease });
    expect(Number(after.TTL)).toBe(-1);
  });

  it('reports a lease revoked by an operator as lost and registers again', async () => {
    const prefix = '/operator/';
    const service = unique('op');
    const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`);
    opened.push(d);
    const events: RegistrationEvent[] = [];
    const reg = d
      .register({ service, host: '127.0.0.1', port: 18050, id: 'o1' }, { ttlMs: 3000 })
      .subscribe((e) => events.push(e));
    await eventually(() => events.some((e) => e.type === 'registered'), PATIENCE, 'registered');
    const kv = (await raw.getAll().prefix(`${prefix}${service}/`).exec()).kvs[0]!;
    await raw.leaseClient.leaseRevoke({ ID: kv.lease });
    await eventually(() => events.some((e) => e.type === 'reregistered'), PATIENCE, 'reregistered');
    const lost = events.find((e) => e.type === 'lost');
    expect(lost?.type === 'lost' && lost.error.name).toBe('RegistrationLostError');
    const again = (await raw.getAll().prefix(`${prefix}${service}/`).exec()).kvs[0]!;
    expect(again.lease).not.toBe(kv.lease);
    reg.unsubscribe();
    await d.settled();
  });
});

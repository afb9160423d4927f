/**
 * A connection that stays open but answers nothing (a frozen proxy, a hung
 * server): node-zookeeper-client keeps calling it connected. A request
 * unanswered within requestTimeoutMs ends that session, and the backend
 * carries on with a new one.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { until } from '../../servers/process.js';
import { startZookeeper, type ZookeeperCluster } from '../../servers/zookeeper.js';
import { type RawZk, rawZk, testDiscovery } from './harness.js';

expectNoLeakedHandles();

/** A TCP proxy whose open connections can be frozen: kept open, nothing forwarded either way. */
const freezingProxy = async (port: number) => {
  const open = new Set<{ client: Socket; upstream: Socket }>();
  const all = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    const pair = { client, upstream };
    open.add(pair);
    for (const s of [client, upstream]) {
      all.add(s);
      s.on('close', () => all.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d) => open.has(pair) && upstream.write(d));
    upstream.on('data', (d) => open.has(pair) && client.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return {
    endpoint: `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    /** Every connection open now stops forwarding (and stays open); new ones work. */
    freeze: () => open.clear(),
    close: async () => {
      for (const s of all) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
};

let zk: ZookeeperCluster;
let raw: RawZk;
let proxy: Awaited<ReturnType<typeof freezingProxy>>;

beforeAll(async () => {
  zk = await startZookeeper();
  raw = await rawZk(zk.connectString);
  proxy = await freezingProxy(zk.members[0]!.clientPort);
});

afterAll(async () => {
  raw?.close();
  await proxy?.close();
  await zk?.destroy();
});

const ownerOf = (path: string): Promise<string | undefined> =>
  new Promise((resolve) =>
    raw.client.exists(path, undefined, (_e, st) =>
      resolve(st ? st.ephemeralOwner.toString('hex') : undefined),
    ),
  );

describe('zk:// on a connection that answers nothing', () => {
  it('ends the stalled session and registers again on a new one', async () => {
    const d = testDiscovery(`zk://${proxy.endpoint}/stall`, [], {
      sessionTimeoutMs: 20_000,
      requestTimeoutMs: 1000,
    });
    const events: RegistrationEvent[] = [];
    let sub: Subscription | undefined;
    try {
      sub = d
        .register(
          { service: 'frozen', host: '127.0.0.1', port: 18500, id: 'f1' },
          { ttlMs: 30_000, renewEveryMs: 300 },
        )
        .subscribe((e) => events.push(e));
      await eventually(() => events.some((e) => e.type === 'registered'), 10_000, 'registered');
      const first = await ownerOf('/stall/frozen/f1');
      const set$ = d.instances$('frozen');
      const seen = set$.subscribe();
      await waitFor(set$, (s) => s.size === 1 && !s.stale, 10_000, 'f1 seen');

      proxy.freeze();
      // well within the 20 s session timeout: only the unanswered renewal can tell
      await eventually(
        () => events.some((e) => e.type === 'reregistered'),
        10_000,
        'reregistered on a new session',
      );
      const types = events.map((e) => e.type);
      expect(types.indexOf('lost')).toBeGreaterThan(0);
      expect(types.indexOf('lost')).toBeLessThan(types.indexOf('reregistered'));
      await until(
        async () => {
          const owner = await ownerOf('/stall/frozen/f1');
          return owner !== undefined && owner !== first;
        },
        10_000,
        'the node owned by the new session',
      );
      await waitFor(set$, (s) => s.size === 1 && !s.stale, 10_000, 'f1 fresh on the new session');
      seen.unsubscribe();
    } finally {
      sub?.unsubscribe();
      await d.close();
    }
  }, 60_000);
});

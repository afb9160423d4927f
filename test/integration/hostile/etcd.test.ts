/**
 * Hostile values in a real etcd, written behind rxdisco's back: a JSON
 * record and a go-micro service nested 4,100 levels deep, a value over the
 * size limit, a `__proto__` metadata key. Each bad value is skipped and
 * reported (registry, service and key named) and the good ones are seen.
 */
import type { Etcd3 } from 'etcd3';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import { isDecodeError, type RxdiscoError } from '../../../src/core/errors.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { nested } from '../../unit/hostile/fake-registry.js';
import { jsonValue, rawClient, testDiscovery } from '../etcd/harness.js';

expectNoLeakedHandles();

let etcd: EtcdCluster;
let raw: Etcd3;
let registry: Discovery | undefined;

beforeAll(async () => {
  etcd = await startEtcd();
  raw = rawClient(etcd.endpoints);
});

afterAll(async () => {
  await registry?.close();
  raw?.close();
  await etcd?.destroy();
});

describe('hostile etcd values', () => {
  it('skips and reports deep and oversized values; the good ones are seen', async () => {
    const prefix = '/hostile/';
    const good = { id: 'good-1', service: 'hello', host: '10.0.0.1', port: 8080 };
    await raw.put(`${prefix}hello/good-1`).value(jsonValue(good));
    await raw
      .put(`${prefix}hello/proto-1`)
      .value(
        '{"id":"proto-1","service":"hello","host":"10.0.0.2","port":80,"metadata":{"__proto__":"kept"}}',
      );
    await raw
      .put(`${prefix}hello/deep-json`)
      .value(
        `{"id":"deep-json","service":"hello","host":"h","port":80,"metadata":${nested(4100)}}`,
      );
    await raw.put(`${prefix}hello/deep-gomicro`).value(`{"name":"hello","nodes":${nested(4100)}}`);
    // etcd takes values up to about 1.5 MiB: 1.2 MiB is over the 1 MiB limit of an entry.
    await raw
      .put(`${prefix}hello/big`)
      .value(`{"id":"big","service":"hello","host":"h","port":80,"x":"${'x'.repeat(1_200_000)}"}`);

    const problems: RxdiscoError[] = [];
    registry = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`, problems);
    const set = await firstValueFrom(
      registry.instances$('hello').pipe(
        filter((s) => !s.stale),
        timeout(10_000),
      ),
    );
    expect(set.instances.map((i) => i.id)).toEqual(['good-1', 'proto-1']);
    expect(Object.getOwnPropertyDescriptor(set.get('proto-1')!.metadata, '__proto__')?.value).toBe(
      'kept',
    );
    const skipped = problems.filter(isDecodeError);
    expect(skipped.map((e) => e.key).sort()).toEqual([
      `${prefix}hello/big`,
      `${prefix}hello/deep-gomicro`,
      `${prefix}hello/deep-json`,
    ]);
    for (const e of skipped) {
      expect(e).toMatchObject({ service: 'hello' });
      expect(e.registry).toContain(etcd.endpoints[0]);
    }
  });
});

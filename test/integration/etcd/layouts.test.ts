/**
 * Value layouts: rxdisco JSON, go-kit `sd/etcdv3` plain addresses and the
 * go-micro registry, read side by side, written on request; malformed
 * values skipped and reported while the rest of the set stays intact.
 */
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../../../src/backends/etcd/codecs.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { isDecodeError, type RxdiscoError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { jsonValue, rawClient, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 10_000;
let etcd: EtcdCluster;
let raw: Etcd3;
const opened: Discovery[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  raw = rawClient(etcd.endpoints);
});

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  raw?.close();
  await etcd?.destroy();
});

const open = (path: string, problems: RxdiscoError[] = []): Discovery => {
  const d = testDiscovery(`etcd://${etcd.endpoints[0]}${path}`, problems);
  opened.push(d);
  return d;
};
const ids = (s: InstanceSet): string => s.instances.map((i) => i.id).join(',');

/** A go-micro service value, as go-micro's etcd registry marshals one node of it. */
const goMicroValue = (name: string, id: string, address: string, version = '1.0.0') =>
  JSON.stringify({
    name,
    version,
    metadata: null,
    endpoints: [{ name: 'Greeter.Hello', request: { name: 'Request', type: 'Request' } }],
    nodes: [
      {
        id,
        address,
        metadata: { broker: 'http', protocol: 'mucp', registry: 'etcd', server: 'mucp' },
      },
    ],
  });

/** A gauge from etcd's Prometheus metrics. */
const metric = async (name: string): Promise<number> => {
  const text = await (await fetch(`http://${etcd.endpoints[0]}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
};

describe('etcd watch multiplexing', () => {
  it('watches many services of one discovery over one gRPC watch stream', async () => {
    const streams0 = await metric('etcd_debugging_mvcc_watch_stream_total');
    const watchers0 = await metric('etcd_debugging_mvcc_watcher_total');
    const d = open('/multiplex/');
    const services = ['m1', 'm2', 'm3', 'm4', 'm5'];
    const subs = services.map((s) => d.instances$(s).subscribe());
    for (const s of services) await waitFor(d.instances$(s), (x) => !x.stale, PATIENCE, s);
    const deadline = Date.now() + PATIENCE;
    while ((await metric('etcd_debugging_mvcc_watcher_total')) < watchers0 + services.length) {
      if (Date.now() > deadline) throw new Error('the watchers never all attached');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await metric('etcd_debugging_mvcc_watcher_total')).toBe(watchers0 + services.length);
    expect(await metric('etcd_debugging_mvcc_watch_stream_total')).toBe(streams0 + 1);
    for (const s of subs) s.unsubscribe();
  });
});

describe('etcd layouts', () => {
  it('discovers keys written as go-kit sd/etcdv3 registers them (value = plain address)', async () => {
    const prefix = '/gokit/';
    const service = 'addsvc';
    // go-kit's Registrar puts Service.Key = <prefix><service>/<instance> with Value = the address
    await raw.put(`${prefix}${service}/10.0.0.1:8080`).value('http://10.0.0.1:8080');
    await raw.put(`${prefix}${service}/i2`).value('10.0.0.2:8081');
    await raw.put(`${prefix}${service}/i3`).value('addsvc-3.internal:9090');
    await raw.put(`${prefix}${service}/i4`).value('https://secure.example:8443');
    const d = open(prefix);
    const set = await waitFor(d.instances$(service), (s) => s.size === 4, PATIENCE, '4 instances');
    expect(set.instances.map((i) => [i.id, i.host, i.port, i.secure])).toEqual([
      ['10.0.0.1:8080', '10.0.0.1', 8080, false],
      ['i2', '10.0.0.2', 8081, false],
      ['i3', 'addsvc-3.internal', 9090, false],
      ['i4', 'secure.example', 8443, true],
    ]);
    // a go-kit deregistration deletes the key
    await raw.delete().key(`${prefix}${service}/i2`);
    await waitFor(d.instances$(service), (s) => s.size === 3, PATIENCE, 'i2 to go');
  });

  it('discovers keys written as the go-micro etcd registry writes them', async () => {
    const prefix = '/micro/registry/';
    await raw
      .put(`${prefix}greeter/greeter-5a1c`)
      .value(goMicroValue('greeter', 'greeter-5a1c', '10.1.0.7:43210'));
    await raw
      .put(`${prefix}greeter/greeter-77e0`)
      .value(goMicroValue('greeter', 'greeter-77e0', '[::1]:43211', '1.1.0'));
    const d = open(prefix);
    const set = await waitFor(d.instances$('greeter'), (s) => s.size === 2, PATIENCE, 'greeters');
    expect(set.instances[0]).toMatchObject({
      id: 'greeter-5a1c',
      service: 'greeter',
      host: '10.1.0.7',
      port: 43210,
      metadata: { version: '1.0.0', protocol: 'mucp' },
    });
    expect(set.instances[1]).toMatchObject({ id: 'greeter-77e0', host: '::1', port: 43211 });
    const list = await waitFor(
      d.services$(),
      (l) => l.names.includes('greeter'),
      PATIENCE,
      'greeter listed',
    );
    expect(list.names).toEqual(['greeter']);
  });

  it('writes the format chosen by ?format=: gokit is a plain host:port, gomicro a go-micro service', async () => {
    for (const [format, check] of [
      ['gokit', (v: string) => expect(v).toBe('127.0.0.1:18100')],
      [
        'gomicro',
        (v: string) =>
          expect(JSON.parse(v)).toMatchObject({
            name: 'fmt-gomicro',
            version: '2.0.0',
            nodes: [{ id: 'w1', address: '127.0.0.1:18100', metadata: { zone: 'z' } }],
          }),
      ],
      ['json', (v: string) => expect(JSON.parse(v)).toMatchObject({ id: 'w1', port: 18100 })],
    ] as const) {
      const prefix = `/write-${format}/`;
      const service = `fmt-${format}`;
      const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}?format=${format}`);
      opened.push(d);
      const events: RegistrationEvent[] = [];
      const reg = d
        .register(
          {
            service,
            host: '127.0.0.1',
            port: 18100,
            id: 'w1',
            metadata: { version: '2.0.0', zone: 'z' },
          },
          { ttlMs: 5000 },
        )
        .subscribe((e) => events.push(e));
      await eventually(() => events.some((e) => e.type === 'registered'), PATIENCE, format);
      const value = await raw.get(`${prefix}${service}/w1`).string();
      check(value!);
      // and rxdisco reads back what it wrote
      const set = await waitFor(d.instances$(service), (s) => s.size === 1, PATIENCE, 'read back');
      expect(set.instances[0]).toMatchObject({ id: 'w1', host: '127.0.0.1', port: 18100 });
      reg.unsubscribe();
      await d.settled();
      expect(await raw.get(`${prefix}${service}/w1`).string()).toBeNull();
    }
  });

  it('skips and reports malformed values by key, keeping the rest of a mixed set intact', async () => {
    const prefix = '/mixed/';
    const service = 'mix';
    const at = (id: string) => `${prefix}${service}/${id}`;
    await raw
      .put(at('json1'))
      .value(jsonValue({ id: 'json1', service, host: '10.0.0.1', port: 80 }));
    await raw.put(at('kit1')).value('10.0.0.2:81');
    await raw.put(at('micro1')).value(goMicroValue(service, 'micro1', '10.0.0.3:82'));
    await raw.put(at('bad-address')).value('not an address at all');
    await raw.put(at('bad-json')).value('{"id": "bad-json", "service": "mix", "port": ');
    await raw
      .put(at('bad-port'))
      .value(JSON.stringify({ id: 'bad-port', service, host: 'h', port: 70000 }));
    await raw.put(at('bad-micro')).value(JSON.stringify({ name: service, nodes: [{ id: 'x' }] }));
    await raw
      .put(at('wrong-id'))
      .value(jsonValue({ id: 'someone-else', service, host: '10.0.0.4', port: 83 }));
    const problems: RxdiscoError[] = [];
    const d = open(prefix, problems);
    const set$ = d.instances$(service);
    const first = await waitFor(set$, () => true, PATIENCE, 'the first set');
    expect(ids(first)).toBe('json1,kit1,micro1');
    const keys = problems.filter(isDecodeError).map((p) => p.key);
    for (const id of ['bad-address', 'bad-json', 'bad-port', 'bad-micro', 'wrong-id'])
      expect(keys).toContain(at(id));
    const port = problems.filter(isDecodeError).find((p) => p.key === at('bad-port'))!;
    expect(port.problems.join(' ')).toMatch(/port/);
    // a valid entry overwritten with garbage is removed and reported...
    await raw.put(at('kit1')).value('garbage!');
    await waitFor(set$, (s) => ids(s) === 'json1,micro1', PATIENCE, 'kit1 removed');
    expect(problems.filter(isDecodeError).some((p) => p.key === at('kit1'))).toBe(true);
    // ...and comes back when fixed
    await raw.put(at('kit1')).value('10.0.0.2:81');
    await waitFor(set$, (s) => ids(s) === 'json1,kit1,micro1', PATIENCE, 'kit1 back');
  });
});

describe('etcd codecs', () => {
  const entry = (id: string) => ({ key: `/p/svc/${id}`, service: 'svc', id });

  it('reads every go-kit address form and rejects what is not one', () => {
    const cases: Array<[string, [string, number, boolean] | null]> = [
      ['10.0.0.1:8080', ['10.0.0.1', 8080, false]],
      ['http://10.0.0.1:8080', ['10.0.0.1', 8080, false]],
      ['http://10.0.0.1:8080/', ['10.0.0.1', 8080, false]],
      ['https://api.example', ['api.example', 443, true]],
      ['grpc://[2001:db8::1]:50051', ['2001:db8::1', 50051, false]],
      ['host-1:1', ['host-1', 1, false]],
      ['10.0.0.1', null],
      ['10.0.0.1:0', null],
      ['10.0.0.1:65536', null],
      ['', null],
      ['a b:80', null],
    ];
    for (const [value, want] of cases) {
      const d = decodeEntry(entry('i'), value, 'etcd://');
      if (want === null) {
        expect(d.ok, value).toBe(false);
        if (!d.ok) expect(d.error.key).toBe('/p/svc/i');
      } else {
        expect(d.ok && [d.value.host, d.value.port, d.value.secure], value).toEqual(want);
      }
    }
  });

  it('round-trips every written format', () => {
    const instance = createInstance(
      {
        service: 'svc',
        host: '10.0.0.9',
        port: 9000,
        id: 'n1',
        secure: true,
        metadata: { a: 'b' },
      },
      'etcd://',
    );
    for (const format of ['json', 'gokit', 'gomicro'] as const) {
      const d = decodeEntry(entry('n1'), encodeEntry(instance, format), 'etcd://');
      expect(d.ok && [d.value.id, d.value.host, d.value.port, d.value.secure], format).toEqual([
        'n1',
        '10.0.0.9',
        9000,
        true,
      ]);
    }
    const json = decodeEntry(entry('n1'), encodeEntry(instance, 'json'), 'etcd://');
    expect(json.ok && json.value).toEqual(instance);
  });

  it('reads go-micro v1 nodes with a separate port', () => {
    const value = JSON.stringify({
      name: 'svc',
      version: 'latest',
      nodes: [{ id: 'old', address: '10.0.0.5', port: 9091, metadata: null }],
    });
    const d = decodeEntry(entry('old'), value, 'etcd://');
    expect(d.ok && [d.value.host, d.value.port]).toEqual(['10.0.0.5', 9091]);
  });
});

/**
 * Decoding of Consul's wire formats, on payloads recorded from a real
 * Consul 1.22 agent (fixtures/) and malformed variants of them.
 */
import { readFileSync } from 'node:fs';
import { VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  decodeCatalogServices,
  decodeHealth,
  decodeHealthSliced,
  statusOf,
} from '../../../../src/backends/consul/codecs.js';
import { isDecodeError, isRegistryUnavailableError } from '../../../../src/core/errors.js';
import { SLICE } from '../../../../src/core/slices.js';

const REGISTRY = 'consul://127.0.0.1:8500';
// biome-ignore lint/suspicious/noExplicitAny: raw JSON of the fixtures, mutated freely
type RawEntry = Record<string, any>;
const fixture = (name: string): string =>
  readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8');
const entries = (name: string): Array<RawEntry> => JSON.parse(fixture(name));

describe('decodeHealth on recorded payloads', () => {
  it('maps address, port, tags, meta, weights, zone and check status', () => {
    const { instances, skipped } = decodeHealth(fixture('health-all'), 'web', REGISTRY);
    const byId = Object.fromEntries(instances.map((i) => [i.id, i]));
    expect(Object.keys(byId).sort()).toEqual(['web-1', 'web-2', 'web-3', 'web-4']);
    expect(byId['web-1']).toMatchObject({
      service: 'web',
      host: '10.0.0.5',
      port: 8080,
      status: 'UP',
      weight: 5,
      zone: 'eu-1a',
      tags: ['primary', 'v2'],
      metadata: { version: '2.1.0', zone: 'eu-1a' },
      secure: false,
      registry: REGISTRY,
    });
    // empty service address: the node's address; a warning check keeps it UP at the warning weight
    expect(byId['web-2']).toMatchObject({ host: '127.0.0.1', port: 8081, status: 'UP', weight: 1 });
    expect(byId['web-3']).toMatchObject({ host: '10.0.0.7', status: 'DOWN' });
    expect(byId['web-4']).toMatchObject({ host: '10.0.0.8', status: 'OUT_OF_SERVICE' });
    // Consul stores a service without a port; it is skipped and reported
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.key).toBe('web/web-bad');
    expect(skipped[0]!.problems.join()).toMatch(/Service\.Port: expected Port, got nothing/);
    expect(skipped[0]!.service).toBe('web');
  });

  it('decodes the passing-only answer', () => {
    const { instances, skipped } = decodeHealth(fixture('health-passing'), 'web', REGISTRY);
    expect(instances.map((i) => i.id)).toEqual(['web-1']);
    expect(skipped.map((e) => e.key)).toEqual(['web/web-bad']);
  });

  it('reads go-micro registrations: metadata and version from the tags', () => {
    const { instances, skipped } = decodeHealth(fixture('health-gomicro'), 'greeter', REGISTRY);
    expect(skipped).toEqual([]);
    expect(instances[0]).toMatchObject({
      id: 'greeter-5f1c9a2e-8d7b-4a52-9a51-3f0f6b7c2d11',
      host: '10.1.2.3',
      port: 41234,
      tags: [],
      metadata: {
        broker: 'http',
        protocol: 'grpc',
        registry: 'consul',
        server: 'grpc',
        transport: 'grpc',
        version: '1.0.3',
      },
    });
  });

  it('reads Spring Cloud Consul registrations: Meta over key=value tags, secure and zone', () => {
    const { instances } = decodeHealth(fixture('health-spring'), 'billing', REGISTRY);
    expect(instances[0]).toMatchObject({
      id: 'billing-8080',
      secure: true,
      zone: 'zone-b',
      metadata: { group: 'payments', secure: 'true', zone: 'zone-b', contextPath: '/api' },
      tags: ['contextPath=/api', 'secure=false'],
    });
  });
});

describe('decodeHealth on malformed payloads', () => {
  const variant = (mutate: (e: RawEntry) => void): string => {
    const list = entries('health-passing').slice(0, 1);
    mutate(list[0]!);
    return JSON.stringify(
      [...list, ...entries('health-all').slice(0, 1)].map((e, i) => {
        if (i === 1) e.Service.ID = 'web-ok';
        return e;
      }),
    );
  };
  const cases: Array<[string, (e: RawEntry) => void, RegExp]> = [
    [
      'a port out of range',
      (e) => (e.Service.Port = 70000),
      /Service\.Port: expected Port, got 70000/,
    ],
    [
      'a port as a string',
      (e) => (e.Service.Port = '8080'),
      /Service\.Port: expected Port, got "8080"/,
    ],
    [
      'no service address and no node address',
      (e) => {
        e.Service.Address = '';
        e.Node.Address = '';
      },
      /Service\.Address: expected a host name or IP address/,
    ],
    ['an address with a space', (e) => (e.Service.Address = 'bad host'), /Service\.Address/],
    [
      'a non-string meta value',
      (e) => (e.Service.Meta = { n: 1 }),
      /Service\.Meta\.n: expected string, got 1/,
    ],
    ['tags that are not a list', (e) => (e.Service.Tags = 'v2'), /Service\.Tags/],
    [
      'a negative weight',
      (e) => (e.Service.Weights = { Passing: -1, Warning: 1 }),
      /Weights\.Passing/,
    ],
    ['a bad rxdisco-weight', (e) => (e.Service.Meta = { 'rxdisco-weight': 'x' }), /rxdisco-weight/],
    ['no Node', (e) => delete e.Node, /Node: expected \{ Node: string/],
    ['an empty ID', (e) => (e.Service.ID = ''), /Service\.ID/],
    // The rules of createInstance, on the decode path too (one rule for an Instance).
    [
      'an ID over 512 characters',
      (e) => (e.Service.ID = 'w'.repeat(513)),
      /Service\.ID: expected InstanceId, got "w+\.\.\./,
    ],
    [
      'a blank tag',
      (e) => (e.Service.Tags = ['v2', ' ']),
      /Service\.Tags: expected NonEmpty tags, got " "/,
    ],
    [
      'a blank zone',
      (e) => (e.Service.Meta = { zone: ' ' }),
      /Service\.Meta\.zone: expected NonEmpty, got " "/,
    ],
  ];
  for (const [what, mutate, problem] of cases) {
    it(`skips and reports an entry with ${what}, keeping the others`, () => {
      const { instances, skipped } = decodeHealth(variant(mutate), 'web', REGISTRY);
      expect(instances.map((i) => i.id)).toEqual(['web-ok']);
      expect(skipped).toHaveLength(1);
      expect(isDecodeError(skipped[0])).toBe(true);
      expect(skipped[0]!.problems.join('; ')).toMatch(problem);
      expect(skipped[0]!.message).toContain(REGISTRY);
    });
  }

  it('treats Checks: null as no checks (UP) and a missing Meta / Tags as empty', () => {
    const list = entries('health-all').slice(0, 1);
    list[0]!.Checks = null;
    list[0]!.Service.Meta = null;
    list[0]!.Service.Tags = null;
    const { instances } = decodeHealth(JSON.stringify(list), 'web', REGISTRY);
    expect(instances[0]).toMatchObject({ status: 'UP', metadata: {}, tags: [] });
  });

  it('skips an entry of another service', () => {
    const list = entries('health-all').slice(0, 1);
    list[0]!.Service.Service = 'other';
    const { instances, skipped } = decodeHealth(JSON.stringify(list), 'web', REGISTRY);
    expect(instances).toEqual([]);
    expect(skipped[0]!.problems.join()).toMatch(/Service\.Service: expected "web"/);
  });

  it('qualifies the same service ID on two nodes with the node name', () => {
    const [a] = entries('health-all');
    const b = structuredClone(a)!;
    b.Node.Node = 'node-b';
    b.Node.Address = '10.9.9.9';
    b.Service.Address = '';
    const { instances } = decodeHealth(JSON.stringify([a, b]), 'web', REGISTRY);
    expect(instances.map((i) => [i.id, i.host])).toEqual([
      ['web-1@fixture-node', '10.0.0.5'],
      ['web-1@node-b', '10.9.9.9'],
    ]);
  });

  it('turns a body that is not a JSON list into a retryable fault', () => {
    for (const body of ['<html>proxy error</html>', '{"a":1}', 'null']) {
      let caught: unknown;
      try {
        decodeHealth(body, 'web', REGISTRY);
      } catch (e) {
        caught = e;
      }
      expect(isRegistryUnavailableError(caught), body).toBe(true);
    }
  });
});

describe('statusOf', () => {
  it.each([
    [[], 'UP', false],
    [[{ CheckID: 'a', Status: 'passing' }], 'UP', false],
    [[{ CheckID: 'a', Status: 'warning' }], 'UP', true],
    [
      [
        { CheckID: 'a', Status: 'warning' },
        { CheckID: 'b', Status: 'critical' },
      ],
      'DOWN',
      true,
    ],
    [[{ CheckID: '_node_maintenance', Status: 'critical' }], 'OUT_OF_SERVICE', false],
    [[{ CheckID: '_service_maintenance:x', Status: 'critical' }], 'OUT_OF_SERVICE', false],
    [[{ CheckID: 'a', Status: 'weird' }], 'UNKNOWN', false],
  ])('%j -> %s', (checks, status, warning) => {
    expect(statusOf(checks)).toEqual({ status, warning });
  });
});

describe('decodeCatalogServices', () => {
  it('lists the names of a recorded catalog, sorted', () => {
    expect(decodeCatalogServices(fixture('catalog'), REGISTRY)).toEqual(['consul', 'web']);
  });
  it('accepts null tag lists and rejects a malformed catalog as a retryable fault', () => {
    expect(decodeCatalogServices('{"b":null,"a":[]}', REGISTRY)).toEqual(['a', 'b']);
    expect(() => decodeCatalogServices('{"a":"x"}', REGISTRY)).toThrow(/malformed service catalog/);
    expect(() => decodeCatalogServices('[]', REGISTRY)).toThrow(/malformed service catalog/);
  });
});

describe('decodeHealthSliced (a big answer in slices that yield)', () => {
  /** `n` entries of the recorded web-1, as web-0 ... web-(n-1). */
  const big = (n: number): string => {
    const one = entries('health-all')[0]!;
    return JSON.stringify(
      Array.from({ length: n }, (_, i) => ({
        ...one,
        Service: { ...one.Service, ID: `web-${i}` },
      })),
    );
  };

  it('decodes one slice at once, then one slice per macrotask, to what decodeHealth gives', async () => {
    const scheduler = new VirtualTimeScheduler();
    const text = big(SLICE.entries * 2 + 1);
    let done = false;
    const result = decodeHealthSliced(text, 'web', REGISTRY, scheduler).then((d) => {
      done = true;
      return d;
    });
    await Promise.resolve();
    expect(done).toBe(false);
    expect(scheduler.actions).toHaveLength(1); // the first slice ran; the next one waits for the scheduler
    scheduler.flush();
    const d = await result;
    expect(scheduler.index + 1).toBe(2); // 3 slices: the first at once, 2 macrotasks
    const whole = decodeHealth(text, 'web', REGISTRY);
    expect(d.instances).toEqual(whole.instances);
    expect(d.instances).toHaveLength(SLICE.entries * 2 + 1);
    expect(d.fingerprint).toBe(whole.fingerprint);
  });

  it('decodes an answer of one slice without waiting', async () => {
    const scheduler = new VirtualTimeScheduler();
    const d = await decodeHealthSliced(big(3), 'web', REGISTRY, scheduler);
    expect(d.instances.map((i) => i.id)).toEqual(['web-0', 'web-1', 'web-2']);
  });

  it('stops between two slices when aborted', async () => {
    const scheduler = new VirtualTimeScheduler();
    const ctl = new AbortController();
    const result = decodeHealthSliced(
      big(SLICE.entries + 1),
      'web',
      REGISTRY,
      scheduler,
      ctl.signal,
    );
    ctl.abort();
    await expect(result).rejects.toThrow(/aborted/);
    expect(scheduler.actions).toHaveLength(0);
  });

  it('reports invalid JSON in a later slice as the whole answer unusable', async () => {
    const scheduler = new VirtualTimeScheduler();
    const text = `${big(SLICE.entries + 1).slice(0, -1)},{"Node":]`;
    const result = decodeHealthSliced(text, 'web', REGISTRY, scheduler);
    scheduler.flush();
    await expect(result).rejects.toSatisfy(isRegistryUnavailableError);
    await expect(result).rejects.toThrow(/not JSON/);
  });

  it('gives equal content equal fingerprints (whatever else the answer says), and different content different ones', () => {
    const a = decodeHealth(big(3), 'web', REGISTRY);
    expect(decodeHealth(big(3), 'web', REGISTRY).fingerprint).toBe(a.fingerprint);
    // A check's output and the indexes are in the answer, not in an Instance: no change.
    const noisy = (JSON.parse(big(3)) as RawEntry[]).map((e) => ({
      ...e,
      Service: { ...e.Service, ModifyIndex: 999 },
      Checks: (e.Checks as RawEntry[]).map((c) => ({ ...c, Output: `at ${Math.random()}` })),
    }));
    expect(decodeHealth(JSON.stringify(noisy), 'web', REGISTRY).fingerprint).toBe(a.fingerprint);
    expect(decodeHealth(big(4), 'web', REGISTRY).fingerprint).not.toBe(a.fingerprint);
    const bad = JSON.parse(big(3)) as RawEntry[];
    bad[1]!.Service.Port = 0;
    expect(decodeHealth(JSON.stringify(bad), 'web', REGISTRY).fingerprint).not.toBe(a.fingerprint);
  });

  it('shares repeated values among the instances of one answer', () => {
    const [a, b] = decodeHealth(big(2), 'web', REGISTRY).instances;
    expect(a!.metadata).toBe(b!.metadata);
    expect(a!.tags).toBe(b!.tags);
    expect(Object.isFrozen(a!.metadata) && Object.isFrozen(a!.tags) && Object.isFrozen(a)).toBe(
      true,
    );
  });
});

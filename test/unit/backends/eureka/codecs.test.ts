import { describe, expect, it } from 'vitest';
import {
  decodeApplications,
  decodeInstanceInfo,
  encodeInstanceInfo,
  reconcileHashcode,
} from '../../../../src/backends/eureka/codecs.js';
import { createInstance } from '../../../../src/core/instance.js';
import { clone, fixture } from './fake-eureka.js';

const R = 'eureka://127.0.0.1:8761/eureka';

type Raw = {
  applications: { application: { name: string; instance: Record<string, unknown>[] }[] };
};
const full = fixture('full.json') as Raw;
const rawOf = (app: string, id: string): Record<string, unknown> =>
  clone(
    full.applications.application
      .find((a) => a.name === app)!
      .instance.find((i) => i.instanceId === id)!,
  );

describe('Eureka codecs', () => {
  it('decodes what a Spring Cloud Netflix client registered, as the service the user asked for', () => {
    const d = decodeInstanceInfo(rawOf('GREETER', 'greeter-java-1'), 'greeter', R);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value).toEqual({
      id: 'greeter-java-1',
      service: 'greeter',
      host: '127.0.0.1',
      port: 18764,
      secure: false,
      status: 'UP',
      weight: 1,
      zone: 'zone-a',
      tags: [],
      metadata: { zone: 'zone-a', 'management.port': '18764', version: '2.0.0' },
      registry: R,
    });
    expect(Object.isFrozen(d.value)).toBe(true);
  });

  // One rule for an Instance: what createInstance refuses, the decoder skips and reports.
  it.each([
    [
      'a host name with a space',
      { hostName: 'bad host' },
      /^hostName: expected Host, got "bad host"$/,
    ],
    ['a host name with a /', { hostName: '10.0.0.1/24' }, /^hostName: expected Host/],
    [
      'an instance id over 512 characters',
      { instanceId: 'i'.repeat(513) },
      /^instanceId: expected InstanceId, got "i+\.\.\.$/,
    ],
    [
      'a blank zone',
      { metadata: { zone: '  ' } },
      /^metadata\.zone: expected NonEmpty, got " {2}"$/,
    ],
  ])('skips and reports an instance with %s, naming the field', (_what, over, problem) => {
    const d = decodeInstanceInfo({ ...rawOf('HELLO', 'hello-1'), ...over }, 'hello', R);
    expect(d.ok).toBe(false);
    expect(!d.ok && d.error.problems[0]).toMatch(problem);
    expect(!d.ok && d.error).toMatchObject({ registry: R, service: 'hello' });
  });

  it("drops Eureka's @class marker from metadata and maps every status", () => {
    const raw = rawOf('HELLO', 'hello-4');
    expect(raw.metadata).toEqual({ version: '1.0' });
    raw.metadata = { '@class': 'java.util.Collections$EmptyMap' };
    const d = decodeInstanceInfo(raw, 'hello', R);
    expect(d.ok && d.value.metadata).toEqual({});
    expect(d.ok && d.value.status).toBe('STARTING');
    for (const status of ['UP', 'DOWN', 'OUT_OF_SERVICE', 'UNKNOWN'] as const) {
      const s = decodeInstanceInfo({ ...raw, status }, 'hello', R);
      expect(s.ok && s.value.status).toBe(status);
    }
  });

  it('uses the secure port when only it is enabled, and accepts boolean and string flags', () => {
    const raw = rawOf('HELLO', 'hello-1');
    raw.port = { $: 8080, '@enabled': false };
    raw.securePort = { $: '8443', '@enabled': true };
    const d = decodeInstanceInfo(raw, 'hello', R);
    expect(d.ok && [d.value.port, d.value.secure]).toEqual([8443, true]);
    raw.port = 9000; // a bare number, as some clients write it
    raw.securePort = { $: 443, '@enabled': 'false' };
    const p = decodeInstanceInfo(raw, 'hello', R);
    expect(p.ok && [p.value.port, p.value.secure]).toEqual([9000, false]);
  });

  it('refuses the port 99999 that Eureka stored, naming the app, the instance and the path', () => {
    const d = decodeInstanceInfo(rawOf('HELLO', 'hello-3'), 'hello', R);
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.error.key).toBe('HELLO/hello-3');
    expect(d.error.problems).toEqual(['port.$: expected Port, got 99999']);
    expect(d.error.service).toBe('hello');
    expect(d.error.message).toContain('HELLO/hello-3');
  });

  it('reports each malformed field with its io-ts path', () => {
    const raw = rawOf('HELLO', 'hello-1');
    raw.status = 'SLEEPING';
    raw.port = { $: 'eighty', '@enabled': 'true' };
    delete raw.hostName;
    const d = decodeInstanceInfo(raw, 'hello', R);
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.error.key).toBe('HELLO/hello-1');
    const text = d.error.problems.join('\n');
    expect(text).toContain('hostName');
    expect(text).toContain('status');
    expect(text).toContain('"SLEEPING"');
    expect(text).toContain('port');
    expect(decodeInstanceInfo('not an object', 'hello', R).ok).toBe(false);
    expect(decodeInstanceInfo({ ...rawOf('HELLO', 'hello-1'), hostName: '' }, 'hello', R).ok).toBe(
      true, // falls back to ipAddr
    );
    expect(
      decodeInstanceInfo({ ...rawOf('HELLO', 'hello-1'), hostName: '', ipAddr: '' }, 'hello', R).ok,
    ).toBe(false);
  });

  it('accepts a single application and a single instance as objects instead of arrays', () => {
    const one = rawOf('GREETER', 'greeter-java-1');
    const body = {
      applications: {
        apps__hashcode: 'UP_1_',
        versions__delta: 1,
        application: { name: 'GREETER', instance: one },
      },
    };
    const d = decodeApplications(body, '/apps', { registry: R });
    expect(d.ok && d.value).toEqual({
      hashcode: 'UP_1_',
      apps: [{ name: 'GREETER', instances: [one] }],
    });
    const empty = decodeApplications(
      { applications: { versions__delta: '1', apps__hashcode: '', application: [] } },
      '/apps',
      { registry: R },
    );
    expect(empty.ok && empty.value).toEqual({ hashcode: '', apps: [] });
  });

  it('refuses an envelope that is not an applications document', () => {
    const d = decodeApplications({ apps: [] }, '/apps', { registry: R });
    expect(d.ok).toBe(false);
    const e = decodeApplications(
      { applications: { application: [{ instance: [] }] } },
      '/apps',
      {},
    );
    expect(!e.ok && e.error.problems.join()).toContain('name');
  });

  it("computes Eureka's reconcile hashcode: counts per status, statuses sorted", () => {
    expect(reconcileHashcode([])).toBe('');
    expect(reconcileHashcode(['UP', 'STARTING', 'UP', 'UP', 'UP'])).toBe('STARTING_1_UP_4_');
    expect(reconcileHashcode(['UP', 'OUT_OF_SERVICE', 'DOWN'])).toBe(
      'DOWN_1_OUT_OF_SERVICE_1_UP_1_',
    );
  });

  it('encodes a complete InstanceInfo shaped like a Spring client registration', () => {
    const instance = createInstance(
      {
        service: 'hello',
        id: 'hello-9',
        host: '10.0.0.9',
        port: 8443,
        secure: true,
        zone: 'z1',
        metadata: { v: '1' },
      },
      R,
    );
    const body = encodeInstanceInfo(instance, {
      durationInSecs: 90,
      renewalIntervalInSecs: 30,
      dirtyAt: 1700000000000,
      pages: { healthCheckUrl: 'https://10.0.0.9:8443/actuator/health' },
    });
    expect(body.instance).toMatchObject({
      instanceId: 'hello-9',
      app: 'HELLO',
      hostName: '10.0.0.9',
      ipAddr: '10.0.0.9',
      status: 'UP',
      port: { $: 80, '@enabled': 'false' },
      securePort: { $: 8443, '@enabled': 'true' },
      dataCenterInfo: { name: 'MyOwn' },
      leaseInfo: { renewalIntervalInSecs: 30, durationInSecs: 90 },
      metadata: { v: '1', zone: 'z1' },
      vipAddress: 'hello',
      lastDirtyTimestamp: '1700000000000',
      healthCheckUrl: 'https://10.0.0.9:8443/actuator/health',
    });
    // and it reads back as the same instance, the zone also in metadata (Spring's convention)
    const back = decodeInstanceInfo(JSON.parse(JSON.stringify(body.instance)), 'hello', R);
    expect(back.ok && back.value).toEqual({ ...instance, metadata: { v: '1', zone: 'z1' } });
  });
});

/**
 * Hostile entries on every decode path (Consul health entries, go-micro
 * tags, Eureka applications, etcd JSON and go-micro values): each one is
 * skipped and reported as a DecodeError naming registry, service and key,
 * never thrown, and the good entries beside it are decoded.
 */
import { deflateSync } from 'node:zlib';
import * as t from 'io-ts';
import { describe, expect, it } from 'vitest';
import { decodeHealth } from '../../../src/backends/consul/codecs.js';
import {
  decodeGoMicroTags,
  GOMICRO_TAG_MAX_BYTES,
  GOMICRO_TAGS_MAX_BYTES,
} from '../../../src/backends/consul/gomicro.js';
import { decodeEntry } from '../../../src/backends/etcd/codecs.js';
import { decodeApplications, decodeInstanceInfo } from '../../../src/backends/eureka/codecs.js';
import { applyDelta, copyHashcode, fullCopy } from '../../../src/backends/eureka/registry-copy.js';
import { decode, ENTRY_LIMITS, entryProblem } from '../../../src/core/codecs.js';
import { isDecodeError } from '../../../src/core/errors.js';
import { Interner } from '../../../src/core/intern.js';
import { nested, recorded } from './fake-registry.js';

const CONSUL = 'consul://127.0.0.1:8500';
const EUREKA = 'eureka://127.0.0.1:8761/eureka';
const ETCD = 'etcd://127.0.0.1:2379/services/';

/** health-all.json (less its malformed `web-bad`) and `web-deep`, whose `field` is `value` (raw JSON). */
const healthWith = (field: string, value: string): string => {
  const entries = (
    JSON.parse(recorded('consul/health-all.json')) as { Service: { ID: string } }[]
  ).filter((e) => e.Service.ID !== 'web-bad');
  const deep = structuredClone(entries[0]!) as { Service: Record<string, unknown> };
  deep.Service.ID = 'web-deep';
  deep.Service[field] = '@@HERE@@';
  return JSON.stringify([...entries, deep]).replace('"@@HERE@@"', value);
};

describe('show() and the entry limits', () => {
  it('reports a value nested 10,000 levels deep without throwing', () => {
    const d = decode(t.string, JSON.parse(nested(10_000)), 'k', { registry: CONSUL });
    expect(d.ok).toBe(false);
    expect(!d.ok && d.error.problems[0]).toMatch(
      /^\(value\): expected string, got \[\[\[.*\.\.\.$/,
    );
  });

  it('shows at most 60 characters of a large value', () => {
    const d = decode(t.string, { a: 'x'.repeat(1_000_000) }, 'k');
    expect(!d.ok && d.error.problems[0]!.length).toBeLessThan(120);
  });

  it('measures depth and size without recursion and stops at the first limit', () => {
    expect(entryProblem({ a: [1, { b: 'c' }] })).toBeUndefined();
    expect(entryProblem(JSON.parse(nested(100_000)))).toBe(
      `(value): expected at most ${ENTRY_LIMITS.maxDepth} levels of nesting, got more`,
    );
    expect(entryProblem({ a: 'x'.repeat(ENTRY_LIMITS.maxBytes) })).toBe(
      `(value): expected at most ${ENTRY_LIMITS.maxBytes} bytes, got more`,
    );
  });
});

describe('Consul health entries', () => {
  it('skips and reports a deeply nested entry; the good entries are decoded', () => {
    const { instances, skipped } = decodeHealth(healthWith('Meta', nested(4100)), 'web', CONSUL);
    expect(instances.map((i) => i.id).sort()).toEqual(['web-1', 'web-2', 'web-3', 'web-4']);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ key: 'web/web-deep', registry: CONSUL, service: 'web' });
    expect(skipped[0]!.message).toContain('levels of nesting');
  });

  it('skips and reports an entry over the size limit', () => {
    const big = JSON.stringify({ junk: 'x'.repeat(ENTRY_LIMITS.maxBytes) });
    const { instances, skipped } = decodeHealth(healthWith('Meta', big), 'web', CONSUL);
    expect(instances).toHaveLength(4);
    expect(skipped.map((e) => [e.key, e.problems])).toEqual([
      ['web/web-deep', [`(value): expected at most ${ENTRY_LIMITS.maxBytes} bytes, got more`]],
    ]);
  });
});

const hexZlib = (s: string | Buffer): string => deflateSync(s).toString('hex');

describe('go-micro tags (decompression bombs)', () => {
  it('drops and reports a tag that inflates past the cap, without inflating it whole', () => {
    // 64 MiB of zeros, deflated to about 64 KB of hex: inflating it whole is the bomb.
    const bomb = `t-${hexZlib(Buffer.concat([Buffer.from('{"a":"'), Buffer.alloc(64 << 20, 48), Buffer.from('"}')]))}`;
    const before = process.memoryUsage().rss;
    const r = decodeGoMicroTags([bomb, `t-${hexZlib('{"protocol":"grpc"}')}`, 'primary']);
    expect(process.memoryUsage().rss - before).toBeLessThan(32 << 20);
    expect(r.tags).toEqual(['primary']);
    expect(r.metadata).toEqual({ protocol: 'grpc' });
    expect(r.dropped).toEqual([
      `Tags.0: expected a go-micro tag that inflates to at most ${GOMICRO_TAG_MAX_BYTES} bytes, got more (dropped)`,
    ]);
  });

  it('bounds what all the tags of one entry may inflate to', () => {
    const each = `t-${hexZlib(`{"k":"${'y'.repeat(GOMICRO_TAG_MAX_BYTES - 16)}"}`)}`;
    const count = Math.ceil(GOMICRO_TAGS_MAX_BYTES / (GOMICRO_TAG_MAX_BYTES - 16)) + 2;
    const r = decodeGoMicroTags(Array.from({ length: count }, () => each));
    expect(r.dropped?.length).toBeGreaterThanOrEqual(2);
    expect(r.dropped?.[0]).toContain('(what was left for the entry)');
  });

  it('reports a bomb tag on the Consul entry and keeps the instance', () => {
    const bomb = `t-${hexZlib(Buffer.alloc(1 << 20, 48))}`;
    const text = healthWith('Tags', JSON.stringify(['primary', bomb]));
    const { instances, skipped } = decodeHealth(text, 'web', CONSUL);
    expect(instances.find((i) => i.id === 'web-deep')?.tags).toEqual(['primary']);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({
      key: 'web/web-deep (tags)',
      registry: CONSUL,
      service: 'web',
    });
    expect(skipped[0]!.problems[0]).toMatch(/^Service\.Tags\.1: expected a go-micro tag/);
  });
});

/** full.json with one more instance in application `app`, raw JSON for its `field`. */
const appsWith = (app: string, field: string, value: string): unknown => {
  const body = JSON.parse(recorded('eureka/full.json')) as {
    applications: { application: { name: string; instance: object[] }[] };
  };
  const hello = body.applications.application.find((a) => a.name === 'HELLO')!;
  const extra = {
    ...structuredClone(hello.instance[0]!),
    instanceId: 'deep-1',
    [field]: '@@HERE@@',
  };
  body.applications.application.push({ name: app, instance: [extra] });
  return JSON.parse(JSON.stringify(body).replace('"@@HERE@@"', value));
};

describe('Eureka applications', () => {
  it('keeps the registry copy when an unrelated application has a deeply nested instance', () => {
    for (const field of ['instanceId', 'metadata']) {
      const d = decodeApplications(appsWith('OTHER', field, nested(4100)), '/apps', {
        registry: EUREKA,
      });
      expect(d.ok).toBe(true);
      if (!d.ok) return;
      const copy = fullCopy(d.value, { registry: EUREKA });
      expect([...copy.apps.get('HELLO')!.instances.keys()].sort()).toEqual([
        'hello-1',
        'hello-2',
        'hello-3',
        'hello-4',
      ]);
      const deep = copy.apps.get('OTHER')?.instances.get('deep-1');
      const problem =
        field === 'instanceId'
          ? copy.unkeyed.get('OTHER')?.[0]
          : deep !== undefined && 'error' in deep
            ? deep.error
            : undefined;
      expect(problem).toMatchObject({ registry: EUREKA, service: 'other' });
      expect(problem?.message).toContain('levels of nesting');
    }
  });

  it('counts an instance it does not keep in the hashcode, as the server does', () => {
    const d = decodeApplications(appsWith('OTHER', 'metadata', nested(4100)), '/apps', {});
    if (!d.ok) throw d.error;
    const copy = fullCopy(d.value, {});
    const deep = copy.apps.get('OTHER')?.instances.get('deep-1');
    expect(deep).toMatchObject({ status: 'UP', error: { key: 'OTHER/deep-1' } });
    // full.json counts STARTING_1_UP_4_; the deep instance is UP.
    expect(copyHashcode(copy)).toBe('STARTING_1_UP_5_');
  });

  it('replaces a kept instance by its problem when a delta makes it too deep', () => {
    const d = decodeApplications(JSON.parse(recorded('eureka/full.json')), '/apps', {});
    if (!d.ok) throw d.error;
    const copy = fullCopy(d.value, {});
    const modified = JSON.parse(
      `{"instanceId":"hello-1","status":"UP","actionType":"MODIFIED","hostName":"h","port":80,"metadata":${nested(4100)}}`,
    );
    const next = applyDelta(
      copy,
      { hashcode: undefined, apps: [{ name: 'HELLO', instances: [modified] }] },
      {},
    );
    const hello1 = next.apps.get('HELLO')?.instances.get('hello-1');
    expect(hello1 !== undefined && 'error' in hello1 && hello1.error.message).toContain(
      'levels of nesting',
    );
    expect(copyHashcode(next)).toBe(copyHashcode(copy));
    // The same problem again is no change.
    expect(
      applyDelta(
        next,
        { hashcode: undefined, apps: [{ name: 'HELLO', instances: [modified] }] },
        {},
      ),
    ).toBe(next);
  });

  it('skips and reports a watched instance over the size limit', () => {
    const raw = {
      instanceId: 'big-1',
      hostName: 'h',
      status: 'UP',
      port: 80,
      junk: 'x'.repeat(2e6),
    };
    const d = decodeInstanceInfo(raw, 'hello', EUREKA);
    expect(!d.ok && d.error).toMatchObject({
      key: 'HELLO/big-1',
      service: 'hello',
      registry: EUREKA,
    });
  });
});

describe('etcd values', () => {
  const at = { key: '/services/hello/a', service: 'hello', id: 'a' };
  const record = (metadata: string) =>
    `{"id":"a","service":"hello","host":"10.0.0.1","port":80,"metadata":${metadata}}`;

  it('skips and reports a deeply nested JSON value', () => {
    const d = decodeEntry(at, record(nested(4100)), ETCD);
    expect(d.ok).toBe(false);
    expect(!d.ok && d.error).toMatchObject({ key: at.key, registry: ETCD, service: 'hello' });
    expect(!d.ok && isDecodeError(d.error) && d.error.problems[0]).toContain('levels of nesting');
  });

  it('skips and reports a deeply nested go-micro value', () => {
    const d = decodeEntry(at, `{"name":"hello","nodes":${nested(4100)}}`, ETCD);
    expect(!d.ok && d.error.problems[0]).toContain('levels of nesting');
  });

  // One rule for an Instance: the go-kit and go-micro layouts take the id from the key.
  it('skips and reports a go-kit or go-micro entry whose key names an id over 512 characters', () => {
    const id = 'i'.repeat(600);
    const long = { key: `/services/hello/${id}`, service: 'hello', id };
    for (const value of [
      '10.0.0.1:8080',
      `{"name":"hello","nodes":[{"id":"${id}","address":"10.0.0.1:8080"}]}`,
    ]) {
      const d = decodeEntry(long, value, ETCD);
      expect(d.ok, value).toBe(false);
      expect(!d.ok && d.error).toMatchObject({ key: long.key, registry: ETCD, service: 'hello' });
      expect(!d.ok && d.error.problems[0]).toMatch(
        /^\(key: the instance id\): expected InstanceId/,
      );
    }
  });

  it('shares the tags and metadata of equal JSON records decoded with one interner', () => {
    const intern = new Interner();
    const value = (id: string) =>
      `{"id":"${id}","service":"hello","host":"10.0.0.1","port":80,"zone":"z1","tags":["v2","a"],"metadata":{"version":"1"}}`;
    const [a, b] = ['a', 'b'].map((id) =>
      decodeEntry({ key: `/services/hello/${id}`, service: 'hello', id }, value(id), ETCD, intern),
    );
    expect(a?.ok && b?.ok).toBe(true);
    if (!a?.ok || !b?.ok) return;
    expect(a.value.tags).toEqual(['a', 'v2']);
    expect(a.value.tags).toBe(b.value.tags);
    expect(a.value.metadata).toBe(b.value.metadata);
    expect(Object.isFrozen(a.value) && Object.isFrozen(a.value.metadata)).toBe(true);
    expect(a.value).toEqual({ ...b.value, id: 'a' });
  });

  it('skips and reports a value over the size limit without parsing it', () => {
    const d = decodeEntry(at, record(`{"junk":"${'x'.repeat(ENTRY_LIMITS.maxBytes)}"}`), ETCD);
    expect(!d.ok && d.error.problems[0]).toMatch(/expected at most 1048576 bytes, got \d+/);
  });
});

import * as t from 'io-ts';
import { describe, expect, it } from 'vitest';
import {
  decode,
  decodeInstance,
  decodeJson,
  InstanceRecord,
  struct,
} from '../../../src/core/codecs.js';
import { ConfigError, DecodeError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';

describe('decodeInstance', () => {
  it('decodes a record with defaults', () => {
    const d = decodeInstance(
      { id: 'a', service: 'hello', host: 'h', port: 1 },
      'hello/a',
      'memory://',
    );
    expect(d.ok && d.value).toMatchObject({
      id: 'a',
      status: 'UP',
      weight: 1,
      secure: false,
      tags: [],
      metadata: {},
    });
  });

  it('names the key and each failing path', () => {
    const d = decodeInstance(
      { id: 'a', service: 'hello', host: '', port: 70000, metadata: { k: 1 } },
      'hello/a',
      'memory://',
      'hello',
    );
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.error).toBeInstanceOf(DecodeError);
    expect(d.error.key).toBe('hello/a');
    expect(d.error.problems).toEqual([
      'host: expected Host, got ""',
      'port: expected Port, got 70000',
      'metadata.k: expected string, got 1',
    ]);
    expect(d.error.message).toContain(
      "registry memory://, service 'hello': skipped malformed entry 'hello/a'",
    );
    expect(d.error.retryable).toBe(false);
  });

  it('rejects a missing field and a wrong status', () => {
    const d = decodeInstance(
      { id: 'a', service: 'hello', host: 'h', status: 'HAPPY' },
      'k',
      'memory://',
    );
    expect(!d.ok && d.error.problems).toEqual([
      'port: expected Port, got nothing',
      'status: expected Status, got "HAPPY"',
    ]);
  });
});

describe('decodeJson', () => {
  it('reports invalid JSON as a DecodeError, not an exception', () => {
    const d = decodeJson(InstanceRecord, '{"id":', 'hello/x');
    expect(!d.ok && d.error.problems[0]).toMatch(/^\(value\): expected JSON, got "\{\\"id\\":"/);
  });
});

describe('struct', () => {
  const Celsius = new t.Type<number, string, unknown>(
    'Celsius',
    (u): u is number => typeof u === 'number',
    (u, c) =>
      typeof u === 'string' && /^-?\d+C$/.test(u)
        ? t.success(Number.parseInt(u, 10))
        : t.failure(u, c),
    (n) => `${n}C`,
  );
  const Reading = struct(
    { sensor: t.string, at: t.number },
    { tags: t.array(t.string), temperature: Celsius, place: struct({ room: t.string }, {}) },
  );

  it('returns a valid value as it is, unknown fields kept, optional fields missing', () => {
    const raw = { sensor: 's1', at: 5, extra: { deep: true } };
    const d = decode(Reading, raw, 'k');
    expect(d.ok && d.value).toBe(raw);
    expect(
      decode(Reading, { sensor: 's1', at: 5, tags: ['a'], place: { room: 'r' } }, 'k').ok,
    ).toBe(true);
  });

  it('takes a null optional field as missing: left out of a copy', () => {
    const raw = { sensor: 's1', at: 5, tags: null, place: { room: 'r' } };
    expect(Reading.is(raw)).toBe(false);
    const d = decode(Reading, raw, 'k');
    expect(d.ok && d.value).toEqual({ sensor: 's1', at: 5, place: { room: 'r' } });
    expect(d.ok && 'tags' in d.value).toBe(false);
    expect(raw.tags).toBeNull();
  });

  it('decodes a field whose codec transforms into a copy, leaving the input alone', () => {
    const raw = { sensor: 's1', at: 5, temperature: '21C' };
    const d = decode(Reading, raw, 'k');
    expect(d.ok && d.value).toEqual({ sensor: 's1', at: 5, temperature: 21 });
    expect(raw.temperature).toBe('21C');
  });

  it('names every wrong field by its path, required and optional alike', () => {
    const d = decode(Reading, { at: '5', tags: [1], place: { room: 7 } }, 'reading/1');
    expect(d.ok).toBe(false);
    const problems = d.ok ? [] : d.error.problems;
    expect(problems).toEqual([
      'sensor: expected string, got nothing',
      'at: expected number, got "5"',
      'tags.0: expected string, got 1',
      'place.room: expected string, got 7',
    ]);
  });

  it('rejects what is not a plain object, naming the expected shape', () => {
    for (const bad of [null, [], 'x', 3]) {
      const d = decode(Reading, bad, 'k');
      expect(d.ok).toBe(false);
      expect(d.ok ? '' : d.error.problems[0]).toMatch(
        /^\(value\): expected \{ sensor: string, at: number, tags\?: Array<string>/,
      );
    }
    expect(Reading.is({ sensor: 's', at: 1, temperature: '3C' })).toBe(false);
  });
});

describe('one rule for an Instance', () => {
  const good = { id: 'a', service: 'hello', host: '10.0.0.1', port: 8080 };
  it.each([
    ['host', 'a space', { host: 'two words' }],
    ['host', 'a slash', { host: 'h/path' }],
    ['host', 'blank', { host: ' ' }],
    ['id', '513 characters', { id: 'x'.repeat(513) }],
    ['id', 'empty', { id: '' }],
    ['service', 'a space', { service: 'not a name' }],
    ['port', '0', { port: 0 }],
    ['weight', '-1', { weight: -1 }],
    ['zone', 'blank', { zone: ' ' }],
    ['tags', 'a blank tag', { tags: [' '] }],
  ])('rejects a %s of %s both when created and when decoded', (field, _what, bad) => {
    const spec = { ...good, ...bad };
    let created: unknown;
    try {
      createInstance(spec, 'memory://');
    } catch (e) {
      created = e;
    }
    expect(created).toBeInstanceOf(ConfigError);
    expect((created as ConfigError).field).toBe(field);
    const decoded = decodeInstance(spec, 'hello/a', 'memory://');
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error).toBeInstanceOf(DecodeError);
    expect(decoded.error.problems).toHaveLength(1);
    expect(decoded.error.problems[0]).toMatch(new RegExp(`^${field}(\\.0)?: expected `));
  });

  it('accepts what createInstance accepts (an id of 512 characters, IPv6 and names)', () => {
    for (const spec of [
      { ...good, id: 'x'.repeat(512) },
      { ...good, host: '::1' },
      { ...good, host: 'api.example.com' },
    ]) {
      expect(() => createInstance(spec, 'memory://')).not.toThrow();
      expect(decodeInstance(spec, 'hello/a', 'memory://').ok).toBe(true);
    }
  });
});

import * as t from 'io-ts';
import { describe, expect, it } from 'vitest';
import {
  decode,
  decodeInstance,
  decodeJson,
  InstanceRecord,
  struct,
} from '../../../src/core/codecs.js';
import { DecodeError } from '../../../src/core/errors.js';

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
      'host: expected NonEmpty, got ""',
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

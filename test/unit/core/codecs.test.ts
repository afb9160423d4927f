import { describe, expect, it } from 'vitest';
import { decodeInstance, decodeJson, InstanceRecord } from '../../../src/core/codecs.js';
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

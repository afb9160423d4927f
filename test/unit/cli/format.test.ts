import { describe, expect, it } from 'vitest';
import { eventToJson, formatEvent } from '../../../src/cli/format-event.js';
import { formatSet, setHeader, setTable, setToJson } from '../../../src/cli/format-set.js';
import { formatTable } from '../../../src/cli/table.js';
import { RegistryUnavailableError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';
import { emptySet, instanceSet } from '../../../src/core/instance-set.js';

const a = createInstance(
  {
    service: 'hello',
    id: 'a',
    host: '10.0.0.1',
    port: 8080,
    zone: 'eu-1a',
    tags: ['v2', 'primary'],
    metadata: { version: '1' },
    weight: 2,
  },
  'memory://',
);
const b = createInstance({ service: 'hello', id: 'b', host: '::1', port: 8081 }, 'memory://');
const fresh = instanceSet('hello', 'memory://', [b, a]);
const outage = new RegistryUnavailableError('connection refused', { registry: 'memory://' });
const stale = instanceSet('hello', 'memory://', [a], {
  stale: true,
  since: Date.parse('2025-01-01T00:00:00.000Z'),
  error: outage,
});

describe('formatTable', () => {
  it('pads every column but the last, without trailing spaces', () => {
    expect(
      formatTable(
        ['ID', 'STATUS', 'TAGS'],
        [
          ['long-id', 'UP', ''],
          ['b', 'DOWN', 'x'],
        ],
      ),
    ).toEqual(['ID       STATUS  TAGS', 'long-id  UP', 'b        DOWN    x']);
  });
});

describe('setToJson', () => {
  it('is one line with the service, staleness and every instance field', () => {
    const line = setToJson(fresh);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      service: 'hello',
      stale: false,
      instances: [
        {
          id: 'a',
          service: 'hello',
          host: '10.0.0.1',
          port: 8080,
          secure: false,
          status: 'UP',
          weight: 2,
          zone: 'eu-1a',
          tags: ['primary', 'v2'],
          metadata: { version: '1' },
          registry: 'memory://',
        },
        {
          id: 'b',
          service: 'hello',
          host: '::1',
          port: 8081,
          secure: false,
          status: 'UP',
          weight: 1,
          tags: [],
          metadata: {},
          registry: 'memory://',
        },
      ],
    });
    expect(line.startsWith('{"service":"hello","stale":false,"instances":[{"id":"a"')).toBe(true);
  });

  it('adds since when and why for a stale set', () => {
    expect(JSON.parse(setToJson(stale))).toMatchObject({
      service: 'hello',
      stale: true,
      staleSince: '2025-01-01T00:00:00.000Z',
      error: outage.message,
    });
  });
});

describe('formatSet', () => {
  it('shows a header and a table of a fresh set', () => {
    expect(formatSet(fresh)).toEqual([
      'hello @ memory://: 2 instances, fresh',
      'ID  ADDRESS        STATUS  WEIGHT  ZONE   TAGS',
      'a   10.0.0.1:8080  UP      2       eu-1a  primary,v2',
      'b   [::1]:8081     UP      1       -      -',
    ]);
  });

  it('says STALE, since when and why', () => {
    expect(setHeader(stale, Date.parse('2025-01-01T00:00:07.000Z'))).toBe(
      `hello @ memory://: 1 instance, STALE since 2025-01-01T00:00:00.000Z (7s): ${outage.message}`,
    );
  });

  it('shows an empty set', () => {
    expect(formatSet(emptySet('hello', 'memory://'))).toEqual([
      'hello @ memory://: 0 instances, fresh',
      '(no instances)',
    ]);
    expect(setTable(emptySet('hello', 'memory://'))).toEqual(['(no instances)']);
  });
});

describe('registration events', () => {
  const at = Date.parse('2025-01-01T00:00:00.000Z');

  it('are one NDJSON line each', () => {
    expect(JSON.parse(eventToJson({ type: 'registered', instance: a, at }))).toEqual({
      type: 'registered',
      id: 'a',
      service: 'hello',
      host: '10.0.0.1',
      port: 8080,
      registry: 'memory://',
      at: '2025-01-01T00:00:00.000Z',
    });
    expect(
      JSON.parse(eventToJson({ type: 'retrying', instance: a, at, delayMs: 200, error: outage })),
    ).toMatchObject({ type: 'retrying', delayMs: 200, error: outage.message });
    expect(JSON.parse(eventToJson({ type: 'deregistered', instance: a, at }))).not.toHaveProperty(
      'error',
    );
  });

  it('read as one line each', () => {
    expect(formatEvent({ type: 'registered', instance: a, at })).toBe(
      '2025-01-01T00:00:00.000Z registered hello 10.0.0.1:8080 (id a) in memory://',
    );
    expect(formatEvent({ type: 'lost', instance: b, at, error: outage })).toBe(
      `2025-01-01T00:00:00.000Z lost hello [::1]:8081 (id b) in memory://: ${outage.message}`,
    );
    expect(formatEvent({ type: 'retrying', instance: a, at, delayMs: 200, error: outage })).toMatch(
      /retrying hello 10\.0\.0\.1:8080 \(id a\) in memory:\/\/; retrying in 200ms: /,
    );
  });
});

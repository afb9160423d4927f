/**
 * The channel balancer of rxdisco/grpc, without grpc-js: connections per
 * instance, only READY ones picked, the state published to the channel,
 * outcomes fed back, everything released on destroy; and the checks of
 * registerRxdiscoResolver's options.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import { isConfigError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';
import { instanceSet } from '../../../src/core/instance-set.js';
import {
  ChannelBalancer,
  type ChannelPolicy,
  type Conn,
  type ConnState,
  outcomeOf,
} from '../../../src/grpc/balancer.js';
import { registerRxdiscoResolver } from '../../../src/grpc/index.js';
import { CANCELLED } from '../../../src/operators/balancers/balancer.js';
import { ewma } from '../../../src/operators/balancers/ewma.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';

const R = 'memory://unit';
const inst = (id: string, port: number) =>
  createInstance({ service: 'echo', id, host: '127.0.0.1', port }, R);

/** A channel host whose connections change state when the test says. */
const host = () => {
  const conns = new Map<number, { state: ConnState; changed: () => void; released: boolean }>();
  const published: [string, string][] = [];
  return {
    conns,
    published,
    set(port: number, state: ConnState) {
      const c = conns.get(port)!;
      c.state = state;
      c.changed();
    },
    host: {
      connect: (_h: string, port: number, changed: () => void): Conn => {
        const c = { state: 'idle' as ConnState, changed, released: false };
        conns.set(port, c);
        return {
          handle: port,
          state: () => c.state,
          connect: () => {
            if (c.state === 'idle') c.state = 'connecting';
          },
          release: () => {
            c.released = true;
          },
        };
      },
      publish: (state: 'ready' | 'connecting' | 'failure', details: string) => {
        published.push([state, details]);
      },
    },
  };
};

let clock = 0;
const policy = (over: Partial<ChannelPolicy> = {}): ChannelPolicy => ({
  balancer: roundRobin(),
  detector: undefined,
  keyHeader: 'x-rxdisco-key',
  now: () => clock,
  ...over,
});

describe('outcomeOf', () => {
  it('UNAVAILABLE and DEADLINE_EXCEEDED fail the instance, CANCELLED says nothing, others succeed', () => {
    expect(outcomeOf(grpc.status.UNAVAILABLE, 5)).toEqual({ ok: false, latencyMs: 5 });
    expect(outcomeOf(grpc.status.DEADLINE_EXCEEDED, 5)).toEqual({ ok: false, latencyMs: 5 });
    expect(outcomeOf(grpc.status.CANCELLED, 5)).toBe(CANCELLED);
    for (const code of [grpc.status.OK, grpc.status.NOT_FOUND, grpc.status.INTERNAL]) {
      expect(outcomeOf(code, 5)).toEqual({ ok: true, latencyMs: 5 });
    }
  });
});

describe('ChannelBalancer', () => {
  it('connects to every instance and picks only READY ones', () => {
    const h = host();
    const b = new ChannelBalancer(h.host);
    const p = policy();
    b.update(instanceSet('echo', R, [inst('a', 1), inst('b', 2)]), p);
    expect([...h.conns.keys()]).toEqual([1, 2]);
    expect(h.published.at(-1)).toEqual(['connecting', '']);
    expect(b.pick(undefined)).toBeUndefined();
    h.set(2, 'ready');
    expect(h.published.at(-1)).toEqual(['ready', '']);
    for (let i = 0; i < 4; i++) expect(b.pick(undefined)?.conn.handle).toBe(2);
    h.set(1, 'ready');
    const picked = new Set(Array.from({ length: 4 }, () => b.pick(undefined)?.conn.handle));
    expect(picked).toEqual(new Set([1, 2]));
    h.set(2, 'failure');
    for (let i = 0; i < 4; i++) expect(b.pick(undefined)?.conn.handle).toBe(1);
  });

  it('publishes a failure naming the service for an empty set, and when every connection failed', () => {
    const h = host();
    const b = new ChannelBalancer(h.host);
    const p = policy();
    b.update(instanceSet('echo', R, []), p);
    expect(h.published.at(-1)).toEqual(['failure', `no instance of echo in ${R}`]);
    b.update(instanceSet('echo', R, [inst('a', 1)]), p);
    h.set(1, 'failure');
    expect(h.published.at(-1)?.[0]).toBe('failure');
    expect(h.published.at(-1)?.[1]).toMatch(/accepts connections/);
  });

  it('releases the connection of a removed instance, and every connection on destroy', () => {
    const h = host();
    const b = new ChannelBalancer(h.host);
    const p = policy();
    b.update(instanceSet('echo', R, [inst('a', 1), inst('b', 2)]), p);
    b.update(instanceSet('echo', R, [inst('b', 2)]), p);
    expect(h.conns.get(1)!.released).toBe(true);
    expect(h.conns.get(2)!.released).toBe(false);
    b.destroy();
    expect(h.conns.get(2)!.released).toBe(true);
  });

  it('feeds latency and status back to the balancer and the detector', () => {
    const h = host();
    const b = new ChannelBalancer(h.host);
    const detector = createOutlierDetector({ consecutiveFailures: 1 });
    const reports: [string, unknown][] = [];
    const spy = { ...detector, report: (i: { id: string }, o: unknown) => reports.push([i.id, o]) };
    b.update(
      instanceSet('echo', R, [inst('a', 1)]),
      policy({ balancer: ewma(), detector: spy as never }),
    );
    h.set(1, 'ready');
    const pick = b.pick(undefined)!;
    clock = 100;
    pick.started();
    clock = 142;
    pick.ended(grpc.status.UNAVAILABLE);
    expect(reports).toEqual([['a', { ok: false, latencyMs: 42 }]]);
  });
});

describe('registerRxdiscoResolver options', () => {
  it('refuses a malformed scheme or keyHeader with a ConfigError naming the option', () => {
    const d = memoryDiscovery('grpc-options');
    for (const [options, field] of [
      [{ scheme: 'Not A Scheme' }, 'scheme'],
      [{ keyHeader: 'X-Key' }, 'keyHeader'],
    ] as const) {
      let error: unknown;
      try {
        registerRxdiscoResolver(d, { grpc, ...options });
      } catch (e) {
        error = e;
      }
      expect(isConfigError(error) && error.field).toBe(field);
    }
  });
});

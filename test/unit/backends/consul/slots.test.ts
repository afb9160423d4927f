import { describe, expect, it } from 'vitest';
import { consulDiscovery } from '../../../../src/backends/consul/index.js';
import { connectionCap, resolveConsulOptions } from '../../../../src/backends/consul/options.js';
import { connectionSlots, type Release } from '../../../../src/backends/consul/slots.js';
import { parseRegistryUrl } from '../../../../src/registry-url.js';

const held = async (p: Promise<Release>): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);

describe('connectionSlots (the connection cap of a Consul backend)', () => {
  it('never lets more than max requests in flight', async () => {
    const slots = connectionSlots(4, 2);
    const releases = await Promise.all([1, 2, 3, 4].map(() => slots.acquire('read')));
    expect(slots.inUse).toBe(4);
    const fifth = slots.acquire('read');
    expect(await held(fifth)).toBe(false);
    releases[0]!();
    releases[0]!(); // a second release of the same slot is a no-op
    expect(await held(fifth)).toBe(true);
    expect(slots.inUse).toBe(4);
  });

  it('keeps max - maxBlocking slots from blocking queries', async () => {
    const slots = connectionSlots(4, 2);
    await slots.acquire('blocking');
    await slots.acquire('blocking');
    const third = slots.acquire('blocking');
    expect(await held(third)).toBe(false);
    // a renewal and a read still get the two other slots at once
    expect(await held(slots.acquire('write'))).toBe(true);
    expect(await held(slots.acquire('read'))).toBe(true);
    expect(slots.blockingInUse).toBe(2);
  });

  it('serves a waiting write before waiting reads and blocking queries', async () => {
    const slots = connectionSlots(4, 3);
    const all = await Promise.all([1, 2, 3, 4].map(() => slots.acquire('read')));
    const order: string[] = [];
    const read = slots.acquire('read').then((r) => order.push('read') && r);
    const blocking = slots.acquire('blocking').then((r) => order.push('blocking') && r);
    const write = slots.acquire('write').then((r) => order.push('write') && r);
    all[0]!();
    await write;
    all[1]!();
    await read;
    all[2]!();
    await blocking;
    expect(order).toEqual(['write', 'read', 'blocking']);
  });

  it('rejects a waiter whose signal aborts, and forgets it', async () => {
    const slots = connectionSlots(4, 2);
    const all = await Promise.all([1, 2, 3, 4].map(() => slots.acquire('read')));
    const ctl = new AbortController();
    const waiting = slots.acquire('read', ctl.signal);
    ctl.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    const next = slots.acquire('read');
    all[0]!();
    expect(await held(next)).toBe(true);
    expect(slots.inUse).toBe(4);
  });
});

describe('maxConnections', () => {
  it('defaults to 64, 48 of them for blocking queries', () => {
    expect(resolveConsulOptions({}, 'consul://x', undefined).connections).toEqual(
      connectionCap(64),
    );
    expect(connectionCap(64)).toEqual({ max: 64, maxBlocking: 48 });
    expect(connectionCap(4)).toEqual({ max: 4, maxBlocking: 2 });
  });

  it('is read from ?maxConnections=, the option winning', () => {
    const config = parseRegistryUrl('consul://127.0.0.1:8500?maxConnections=20');
    expect(config).toMatchObject({ maxConnections: 20 });
    expect(
      resolveConsulOptions({ maxConnections: 8 }, 'consul://x', undefined, 20).connections.max,
    ).toBe(8);
    expect(resolveConsulOptions({}, 'consul://x', undefined, 20).connections.max).toBe(20);
  });

  it('refuses a cap out of range, in the URL or the options, with the one wording', () => {
    expect(() => parseRegistryUrl('consul://127.0.0.1:8500?maxConnections=3')).toThrow(
      /url\.maxConnections must be an integer from 4 to 10000 \(got 3\); pass a whole number/,
    );
    expect(() => parseRegistryUrl('consul://127.0.0.1:8500?maxConnections=lots')).toThrow(
      /url\.maxConnections must be an integer from 4 to 10000 \(got 'lots'\)/,
    );
    expect(() => consulDiscovery('consul://127.0.0.1:8500', { maxConnections: 1.5 })).toThrow(
      /maxConnections must be an integer from 4 to 10000 \(got 1.5\)/,
    );
  });
});

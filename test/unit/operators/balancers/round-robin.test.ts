import { describe, expect, it } from 'vitest';
import { applyChanges, emptySet, restale } from '../../../../src/core/instance-set.js';
import { roundRobin } from '../../../../src/operators/balancers/round-robin.js';
import { inst, REGISTRY, setOf, staleSince, tally } from '../fixtures.js';
import { drive, picks } from './helpers.js';

const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => inst(id)) as [
  ReturnType<typeof inst>,
  ReturnType<typeof inst>,
  ReturnType<typeof inst>,
  ReturnType<typeof inst>,
];

describe('roundRobin()', () => {
  it('rotates exactly, in id order', () => {
    const lb = drive(roundRobin({ start: 'first' })).push(setOf(c, a, b));
    expect(lb.size).toBe(3);
    expect(picks(lb, 7)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
    expect(tally(() => lb.pick(), 299)).toEqual({ a: 99, b: 100, c: 100 }); // from b on
  });

  it('goes on after the last picked id when an instance is added mid-rotation', () => {
    const driver = drive(roundRobin({ start: 'first' }));
    const s0 = setOf(a, b, d);
    const first = driver.push(s0);
    expect(picks(first, 2)).toEqual(['a', 'b']);
    const second = driver.push(applyChanges(s0, [c], []));
    expect(picks(second, 5)).toEqual(['c', 'd', 'a', 'b', 'c']);
  });

  it('neither restarts nor picks twice when instances are removed mid-rotation', () => {
    const driver = drive(roundRobin({ start: 'first' }));
    const s0 = setOf(a, b, c, d);
    expect(picks(driver.push(s0), 2)).toEqual(['a', 'b']);
    const s1 = applyChanges(s0, [], ['b']); // the last picked one leaves
    expect(picks(driver.push(s1), 2)).toEqual(['c', 'd']);
    const s2 = applyChanges(s1, [], ['a']); // wraps to the new first
    expect(picks(driver.push(s2), 3)).toEqual(['c', 'd', 'c']);
  });

  it('keeps the rotation through staleness changes and updates that do not pick', () => {
    const driver = drive(roundRobin({ start: 'first' }));
    const s0 = setOf(a, b, c);
    expect(picks(driver.push(s0), 1)).toEqual(['a']);
    const s1 = restale(s0, staleSince(1));
    driver.push(s1); // no pick from this one
    const s2 = applyChanges(s1, [inst('c', { port: 9 })], [], staleSince(1));
    const lb = driver.push(s2);
    expect(lb.set).toBe(s2);
    expect(picks(lb, 3)).toEqual(['b', 'c', 'a']);
  });

  it('returns undefined from an empty set, then picks again when instances come', () => {
    const driver = drive(roundRobin({ start: 'first' }));
    const empty = driver.push(emptySet('hello', REGISTRY));
    expect(empty.size).toBe(0);
    expect(empty.pick()).toBeUndefined();
    expect(picks(driver.push(setOf(a, b)), 3)).toEqual(['a', 'b', 'a']);
  });

  it('ignores weights', () => {
    const lb = drive(roundRobin({ start: 'first' })).push(
      setOf(inst('a', { weight: 0 }), inst('b', { weight: 5 })),
    );
    expect(picks(lb, 4)).toEqual(['a', 'b', 'a', 'b']);
  });

  it('gives each subscription its own rotation', () => {
    const op = roundRobin({ start: 'first' });
    const one = drive(op).push(setOf(a, b, c));
    const two = drive(op).push(setOf(a, b, c));
    expect(picks(one, 2)).toEqual(['a', 'b']);
    expect(picks(two, 2)).toEqual(['a', 'b']);
  });

  it('starts a new subscription at a random instance by default, then rotates in id order', () => {
    const starts = new Map<string, number>();
    for (let k = 0; k < 300; k++) {
      const first = drive(roundRobin())
        .push(setOf(a, b, c))
        .pick()!.id;
      starts.set(first, (starts.get(first) ?? 0) + 1);
    }
    expect([...starts.keys()].sort()).toEqual(['a', 'b', 'c']);
    for (const n of starts.values()) expect(n).toBeGreaterThan(50);
    const lb = drive(roundRobin({ random: () => 0.5 })).push(setOf(a, b, c));
    expect([lb.pick(), lb.pick(), lb.pick(), lb.pick()].map((i) => i?.id)).toEqual([
      'b',
      'c',
      'a',
      'b',
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { applyChanges, emptySet, restale } from '../../../../src/core/instance-set.js';
import { weightedRoundRobin } from '../../../../src/operators/balancers/weighted-round-robin.js';
import { inst, REGISTRY, setOf, staleSince, tally } from '../fixtures.js';
import { drive, picks } from './helpers.js';

const abc = setOf(inst('a', { weight: 5 }), inst('b', { weight: 1 }), inst('c', { weight: 1 }));

describe('weightedRoundRobin()', () => {
  it("gives nginx's smooth sequence for weights 5, 1, 1", () => {
    const lb = drive(weightedRoundRobin()).push(abc);
    const cycle = ['a', 'a', 'b', 'a', 'c', 'a', 'a'];
    expect(picks(lb, 21)).toEqual([...cycle, ...cycle, ...cycle]);
  });

  it('gives exact shares over whole cycles and never picks weight 0', () => {
    const set = setOf(
      inst('a', { weight: 3 }),
      inst('b', { weight: 2 }),
      inst('c', { weight: 1 }),
      inst('z', { weight: 0 }),
    );
    const lb = drive(weightedRoundRobin()).push(set);
    expect(lb.size).toBe(3);
    expect(tally(() => lb.pick(), 600)).toEqual({ a: 300, b: 200, c: 100 });
  });

  it('carries current weights across a set change instead of restarting', () => {
    const driver = drive(weightedRoundRobin());
    expect(picks(driver.push(abc), 3)).toEqual(['a', 'a', 'b']);
    const stale = restale(abc, staleSince(1));
    expect(picks(driver.push(stale), 4)).toEqual(['a', 'c', 'a', 'a']);
  });

  it('starts a new instance at current weight 0', () => {
    const driver = drive(weightedRoundRobin());
    expect(picks(driver.push(abc), 7)).toEqual(['a', 'a', 'b', 'a', 'c', 'a', 'a']);
    const more = applyChanges(abc, [inst('d', { weight: 1 })], []);
    expect(picks(driver.push(more), 8)).toEqual(['a', 'a', 'b', 'a', 'c', 'a', 'd', 'a']);
  });

  it('follows weight changes and removals', () => {
    const driver = drive(weightedRoundRobin());
    const s0 = setOf(inst('a'), inst('b'));
    expect(picks(driver.push(s0), 2)).toEqual(['a', 'b']);
    const s1 = applyChanges(s0, [inst('b', { weight: 0 })], []);
    expect(picks(driver.push(s1), 3)).toEqual(['a', 'a', 'a']);
    const s2 = applyChanges(s1, [], ['a']);
    const last = driver.push(s2);
    expect(last.size).toBe(0);
    expect(last.pick()).toBeUndefined();
  });

  it('returns undefined from an empty set', () => {
    expect(drive(weightedRoundRobin()).push(emptySet('hello', REGISTRY)).pick()).toBeUndefined();
  });
});

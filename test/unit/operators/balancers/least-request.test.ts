import { describe, expect, it } from 'vitest';
import { applyChanges, emptySet } from '../../../../src/core/instance-set.js';
import { leastRequest } from '../../../../src/operators/balancers/least-request.js';
import { inst, mulberry32, REGISTRY, setOf, tally } from '../fixtures.js';
import { drive, picks } from './helpers.js';

const a = inst('a');
const b = inst('b');
const c = inst('c');
const ok = { ok: true, latencyMs: 1 };

describe('leastRequest()', () => {
  it('picks the less loaded of two', () => {
    const lb = drive(leastRequest({ random: mulberry32(1) })).push(setOf(a, b));
    lb.started(a);
    expect(new Set(picks(lb, 50))).toEqual(new Set(['b']));
    lb.started(b);
    lb.started(b);
    expect(new Set(picks(lb, 50))).toEqual(new Set(['a']));
  });

  it('spreads evenly when idle and follows P2C odds under load (seeded)', () => {
    const set = setOf(...Array.from({ length: 10 }, (_, k) => inst(`i${k}`)));
    const lb = drive(leastRequest({ random: mulberry32(99) })).push(set);
    const idle = tally(() => lb.pick(), 50_000);
    for (let k = 0; k < 10; k++) expect(Math.abs(idle[`i${k}`]! - 5000)).toBeLessThan(300);
    // Instance k has k calls in flight: rank r wins 2(n-1-r)/(n(n-1)) of the picks.
    for (let k = 0; k < 10; k++) for (let j = 0; j < k; j++) lb.started(set.instances[k]!);
    const n = 90_000;
    const loaded = tally(() => lb.pick(), n);
    expect(loaded.i9).toBeUndefined();
    for (let k = 0; k < 9; k++) expect(loaded[`i${k}`]! / n).toBeCloseTo((2 * (9 - k)) / 90, 2);
  });

  it('keeps in-flight counts across set changes', () => {
    const driver = drive(leastRequest({ random: mulberry32(5) }));
    const s0 = setOf(a, b);
    const first = driver.push(s0);
    first.started(a);
    first.started(a);
    const second = driver.push(applyChanges(s0, [c], []));
    expect(tally(() => second.pick(), 300).a).toBeUndefined();
    // Calls that began on the old picker end through the new one, and vice versa.
    second.finished(a, ok);
    first.finished(a, ok);
    expect(tally(() => second.pick(), 3000).a).toBeGreaterThan(800);
  });

  it('remembers busy instances that leave and come back', () => {
    const driver = drive(leastRequest({ random: mulberry32(8) }));
    const s0 = setOf(a, b);
    driver.push(s0).started(a);
    const s1 = applyChanges(s0, [], ['a']);
    driver.push(s1);
    const back = driver.push(applyChanges(s1, [a], []));
    expect(new Set(picks(back, 50))).toEqual(new Set(['b']));
  });

  it('without a random option uses its own generator', () => {
    const lb = drive(leastRequest()).push(setOf(a, b, c));
    expect(Object.keys(tally(() => lb.pick(), 300)).sort()).toEqual(['a', 'b', 'c']);
    lb.started(a);
    lb.started(b);
    expect(tally(() => lb.pick(), 300).c).toBeGreaterThan(150);
  });

  it('counts a cancelled call down like any other', () => {
    const lb = drive(leastRequest({ random: mulberry32(3) })).push(setOf(a, b));
    lb.started(a);
    lb.started(b);
    lb.started(b);
    lb.finished(b, { cancelled: true });
    lb.finished(b, { cancelled: true }); // b: 0, a: 1
    expect(new Set(picks(lb, 50))).toEqual(new Set(['b']));
  });

  it('never counts below zero', () => {
    const lb = drive(leastRequest({ random: mulberry32(2) })).push(setOf(a, b));
    lb.finished(a, ok);
    lb.finished(a, ok);
    lb.started(a);
    expect(new Set(picks(lb, 50))).toEqual(new Set(['b']));
  });

  it('returns undefined from an empty set and the only instance of a singleton', () => {
    const driver = drive(leastRequest());
    expect(driver.push(emptySet('hello', REGISTRY)).pick()).toBeUndefined();
    expect(picks(driver.push(setOf(a)), 2)).toEqual(['a', 'a']);
  });

  it('gives each subscription its own counts', () => {
    const op = leastRequest({ random: mulberry32(4) });
    const one = drive(op).push(setOf(a, b));
    const two = drive(op).push(setOf(a, b));
    one.started(a);
    expect(new Set(picks(one, 30))).toEqual(new Set(['b']));
    expect(new Set(picks(two, 200))).toEqual(new Set(['a', 'b']));
  });
});

import { describe, expect, it } from 'vitest';
import { RegistryUnavailableError } from '../../../src/core/errors.js';
import {
  applyChanges,
  emptySet,
  filterSet,
  instanceSet,
  replaceAll,
  restale,
} from '../../../src/core/instance-set.js';
import { inst, REGISTRY } from './fixtures.js';

const ids = (s: { instances: readonly { id: string }[] }) => s.instances.map((i) => i.id);

describe('instanceSet', () => {
  it('sorts by id, keeps the last of duplicate ids, and is frozen', () => {
    const s = instanceSet('hello', REGISTRY, [inst(3), inst(1), inst(2), inst(1, { weight: 5 })]);
    expect(ids(s)).toEqual(['1', '2', '3']);
    expect(s.get('1')?.weight).toBe(5);
    expect(s.get('9')).toBeUndefined();
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.instances)).toBe(true);
    expect(s.stale).toBe(false);
  });
});

describe('applyChanges', () => {
  const start = instanceSet('hello', REGISTRY, [inst(1), inst(2), inst(4)]);

  it('returns the same object when nothing changes in effect', () => {
    expect(applyChanges(start, [inst(1)], ['9'])).toBe(start);
  });

  it('records added, removed and updated instances against the previous version', () => {
    const next = applyChanges(start, [inst(3), inst(2, { status: 'DOWN' })], ['4']);
    expect(ids(next)).toEqual(['1', '2', '3']);
    expect(next.delta?.from).toBe(start.version);
    expect(ids({ instances: next.delta!.added })).toEqual(['3']);
    expect(ids({ instances: next.delta!.removed })).toEqual(['4']);
    expect(next.delta!.updated.map((u) => [u.previous.status, u.current.status])).toEqual([
      ['UP', 'DOWN'],
    ]);
    expect(ids(start)).toEqual(['1', '2', '4']);
  });

  it('keeps the instances of the previous set by reference when they did not change', () => {
    const next = applyChanges(start, [inst(0)], []);
    expect(next.get('1')).toBe(start.get('1'));
  });
});

describe('replaceAll and restale', () => {
  it('diffs a full re-read against what was known', () => {
    const start = instanceSet('hello', REGISTRY, [inst(1), inst(2)]);
    const next = replaceAll(start, [inst(2), inst(3)]);
    expect(ids(next)).toEqual(['2', '3']);
    expect(next.delta?.removed.map((i) => i.id)).toEqual(['1']);
    expect(replaceAll(next, [inst(3), inst(2)])).toBe(next);
  });

  it('marks a set stale and fresh again without changing its members', () => {
    const start = instanceSet('hello', REGISTRY, [inst(1)]);
    const error = new RegistryUnavailableError('down');
    const stale = restale(start, { stale: true, since: 42, error });
    expect(stale.stale && [stale.staleSince, stale.error]).toEqual([42, error]);
    expect(stale.instances).toEqual(start.instances);
    expect(restale(stale, { stale: true, since: 42, error })).toBe(stale);
    const fresh = restale(stale, { stale: false });
    expect(fresh.stale).toBe(false);
    expect(fresh.delta?.from).toBe(stale.version);
  });
});

describe('filterSet', () => {
  const up = (i: { status: string }) => i.status === 'UP';

  it('updates a view in O(changes) from the delta and returns the same view when untouched', () => {
    const a = instanceSet('hello', REGISTRY, [inst(1), inst(2, { status: 'DOWN' })]);
    const va = filterSet(a, up, undefined);
    expect(ids(va)).toEqual(['1']);
    const b = applyChanges(a, [inst(2, { status: 'DOWN', weight: 3 })], []);
    expect(filterSet(b, up, { input: a, output: va })).toBe(va);
    const c = applyChanges(b, [inst(2)], []);
    const vc = filterSet(c, up, { input: b, output: va });
    expect(ids(vc)).toEqual(['1', '2']);
    expect(vc.delta?.added.map((i) => i.id)).toEqual(['2']);
  });

  it('rebuilds when the input has no delta from the previous input', () => {
    const a = instanceSet('hello', REGISTRY, [inst(1)]);
    const va = filterSet(a, up, undefined);
    const unrelated = instanceSet('hello', REGISTRY, [inst(1), inst(5)]);
    expect(ids(filterSet(unrelated, up, { input: a, output: va }))).toEqual(['1', '5']);
  });

  it('carries staleness through', () => {
    const a = emptySet('hello', REGISTRY, {
      stale: true,
      since: 1,
      error: new RegistryUnavailableError('x'),
    });
    expect(filterSet(a, up, undefined).stale).toBe(true);
  });
});

import { map, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/errors.js';
import {
  applyChanges,
  type InstanceSet,
  instanceSet,
  restale,
} from '../../../src/core/instance-set.js';
import { preferZone } from '../../../src/operators/prefer-zone.js';
import { inst, REGISTRY, setOf, shape, staleSince, testScheduler } from './fixtures.js';

const a1 = inst('a1', { zone: 'a' });
const a2 = inst('a2', { zone: 'a' });
const b1 = inst('b1', { zone: 'b' });
const n1 = inst('n1'); // no zone
const down = (i: typeof a1) => inst(i.id, { zone: i.zone ?? 'z', status: 'DOWN' });

describe('preferZone()', () => {
  it('routes to the zone while one of its instances is UP, else to all', () => {
    const s0 = setOf(a1, a2, b1, n1);
    const s1 = applyChanges(s0, [down(a1)], []); // a2 still up: a1 stays (status is not filtered)
    const s2 = applyChanges(s1, [inst('b2', { zone: 'b' })], []); // other zone: nothing
    const s3 = applyChanges(s2, [down(a2)], []); // no UP in zone a: everything
    const s4 = applyChanges(s3, [], ['n1']); // all view shrinks
    const s5 = applyChanges(s4, [inst('a2', { zone: 'a' })], []); // a2 back up: zone again
    const s6 = restale(s5, staleSince(7));
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b-c-d-e-f-g-|', {
        a: s0,
        b: s1,
        c: s2,
        d: s3,
        e: s4,
        f: s5,
        g: s6,
      });
      expectObservable(source.pipe(preferZone('a'), map(shape))).toBe('v-w---x-y-z-s-|', {
        v: 'a1,a2',
        w: 'a1,a2',
        x: 'a1,a2,b1,b2,n1',
        y: 'a1,a2,b1,b2',
        z: 'a1,a2',
        s: 'a1,a2 (stale)',
      });
      expectSubscriptions(source.subscriptions).toBe('^-------------!');
    });
  });

  it('falls back to all when the zone has no instance at all, and back when one comes', () => {
    const s0 = setOf(b1, n1);
    const s1 = applyChanges(s0, [a1], []);
    const s2 = applyChanges(s1, [], ['a1']);
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('a-b-c|', { a: s0, b: s1, c: s2 });
      expectObservable(source.pipe(preferZone('a'), map(shape))).toBe('v-w-x|', {
        v: 'b1,n1',
        w: 'a1',
        x: 'b1,n1',
      });
    });
  });

  it('counts UP zone instances correctly when sets come without a matching delta', () => {
    const views: InstanceSet[] = [];
    const input = new Subject<InstanceSet>();
    const sub = input.pipe(preferZone('a')).subscribe((v) => views.push(v));
    input.next(setOf(a1, b1));
    input.next(instanceSet('hello', REGISTRY, [down(a1), b1])); // rebuilt: no delta
    const s2 = instanceSet('hello', REGISTRY, [down(a1), a2, b1]);
    input.next(s2);
    input.next(applyChanges(s2, [down(a2)], [])); // delta path from a rebuilt set
    sub.unsubscribe();
    expect(views.map(shape)).toEqual(['a1', 'a1,b1', 'a1,a2', 'a1,a2,b1']);
    expect(input.observed).toBe(false);
  });

  it('records what changed when it switches between the zone and everything', () => {
    const views: InstanceSet[] = [];
    const input = new Subject<InstanceSet>();
    const sub = input.pipe(preferZone('a')).subscribe((v) => views.push(v));
    const s0 = setOf(a1, b1, n1);
    input.next(s0);
    input.next(applyChanges(s0, [down(a1)], []));
    sub.unsubscribe();
    expect(views.map(shape)).toEqual(['a1', 'a1,b1,n1']);
    const delta = views[1]!.delta!;
    expect(delta.from).toBe(views[0]!.version);
    expect(delta.added.map((i) => i.id).sort()).toEqual(['b1', 'n1']);
    expect(delta.updated.map((u) => [u.previous.status, u.current.status])).toEqual([
      ['UP', 'DOWN'],
    ]);
  });

  it('refuses an empty zone', () => {
    expect(() => preferZone('')).toThrow(ConfigError);
  });
});

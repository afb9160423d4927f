import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/errors.js';
import { applyChanges, restale } from '../../../src/core/instance-set.js';
import { withTags } from '../../../src/operators/with-tags.js';
import { inst, setOf, shape, staleSince, testScheduler } from './fixtures.js';

const a = inst('a', { tags: ['primary', 'v2'] });
const b = inst('b', { tags: ['v2'] });
const c = inst('c', { tags: ['primary', 'v1'] });

describe('withTags()', () => {
  it('keeps instances that have every tag, emitting only when the view changes', () => {
    const s0 = setOf(a, b, c);
    const s1 = applyChanges(s0, [inst('b', { tags: ['v2'], port: 9090 })], []); // outside the view
    const s2 = applyChanges(s1, [inst('b', { tags: ['v2', 'primary'] })], []); // b joins
    const s3 = restale(s2, staleSince(5));
    const s4 = applyChanges(s3, [inst('a', { tags: ['v2'] })], [], staleSince(5)); // a leaves
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b-c-d-e-|', { a: s0, b: s1, c: s2, d: s3, e: s4 });
      expectObservable(source.pipe(withTags('v2', 'primary'), map(shape))).toBe('v---w-x-y-|', {
        v: 'a',
        w: 'a,b',
        x: 'a,b (stale)',
        y: 'b (stale)',
      });
      expectSubscriptions(source.subscriptions).toBe('^---------!');
    });
  });

  it('with no tags keeps everything; duplicate tags count once', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: setOf(a, b, c) });
      expectObservable(source.pipe(withTags(), map(shape))).toBe('v|', { v: 'a,b,c' });
      expectObservable(source.pipe(withTags('v2', 'v2'), map(shape))).toBe('v|', { v: 'a,b' });
    });
  });

  it('refuses empty tags', () => {
    expect(() => withTags('v2', '')).toThrow(ConfigError);
  });
});

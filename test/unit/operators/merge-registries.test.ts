import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createInstance } from '../../../src/core/instance.js';
import { instanceSet, restale } from '../../../src/core/instance-set.js';
import { mergeRegistries } from '../../../src/operators/merge-registries.js';
import { staleSince, testScheduler } from './fixtures.js';

const at = (registry: string, id: string, host: string, port = 80) =>
  createInstance({ id, service: 'hello', host, port }, registry);
const consul = (...i: ReturnType<typeof at>[]) => instanceSet('hello', 'consul://c', i);
const eureka = (...i: ReturnType<typeof at>[]) => instanceSet('hello', 'eureka://e', i);

const tags = (set: ReturnType<typeof consul>) =>
  `${set.instances.map((i) => `${i.id}@${i.registry}`).join(',')}${set.stale ? ' (stale)' : ''}`;

describe('mergeRegistries()', () => {
  it('unions the sets once all emitted, one per host:port, first source first, tagged by registry', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const c1 = consul(at('consul://c', 'a', '10.0.0.1'), at('consul://c', 'b', '10.0.0.2'));
      const e1 = eureka(at('eureka://e', 'A', '10.0.0.1'), at('eureka://e', 'z', '10.0.0.9'));
      const e2 = eureka(at('eureka://e', 'z', '10.0.0.9'));
      const left = cold('c-----', { c: c1 });
      const right = cold('--e-f-', { e: e1, f: e2 });
      expectObservable(mergeRegistries(left, right).pipe(map(tags))).toBe('--e', {
        e: 'a@consul://c,b@consul://c,z@eureka://e',
      });
    });
  });

  it('renames a later duplicate id, and is stale only when every source is', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const c1 = consul(at('consul://c', 'a', '10.0.0.1'));
      const e1 = eureka(at('eureka://e', 'a', '10.0.0.2'));
      const left = cold('c-s-', { c: c1, s: restale(c1, staleSince(5)) });
      const right = cold('e--s', { e: e1, s: restale(e1, staleSince(3)) });
      expectObservable(mergeRegistries(left, right).pipe(map(tags))).toBe('f--s', {
        f: 'a@consul://c,a@eureka://e@eureka://e',
        s: 'a@consul://c,a@eureka://e@eureka://e (stale)',
      });
    });
    expect(() => mergeRegistries()).toThrow(/at least one source/);
  });

  it('keeps renamed ids unique and within 512 characters', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const long = 'x'.repeat(510);
      const c1 = consul(
        at('consul://c', long, '10.0.0.1'),
        at('consul://c', 'a@eureka://e', '10.0.0.3'),
      );
      const e1 = eureka(at('eureka://e', long, '10.0.0.2'), at('eureka://e', 'a', '10.0.0.4'));
      const e2 = eureka(at('eureka://e', 'a', '10.0.0.4'));
      const e3 = instanceSet('hello', 'eureka://e', [at('eureka://e', 'a', '10.0.0.5')]);
      const ids = (set: ReturnType<typeof consul>) => set.instances.map((i) => i.id);
      expectObservable(
        mergeRegistries(
          cold('c', { c: c1 }),
          cold('e', { e: e1 }),
          cold('f', { f: e2 }),
          cold('g', { g: e3 }),
        ).pipe(map(ids)),
      ).toBe('x', {
        x: ['a', 'a@eureka://e', 'a@eureka://e#2', long, `${long}@e`],
      });
    });
  });

  it('fails when a source fails, completes when all complete', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const c1 = consul(at('consul://c', 'a', '10.0.0.1'));
      expectObservable(mergeRegistries(cold('c|', { c: c1 }), cold('--#')).pipe(map(tags))).toBe(
        '--#',
      );
      expectObservable(
        mergeRegistries(cold('c|', { c: c1 }), cold('-c--|', { c: c1 })).pipe(map(tags)),
      ).toBe('-c--|', { c: 'a@consul://c' });
    });
  });
});

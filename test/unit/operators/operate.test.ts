import { config, map, Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { combine, operate } from '../../../src/operators/operate.js';
import { testScheduler, unhandledDuring } from './fixtures.js';

/** Emits each value's `box`: equal boxes in a row are the same object. */
const boxes = (): ((v: string) => { v: string }) => {
  const made = new Map<string, { v: string }>();
  return (v) => {
    let box = made.get(v);
    if (box === undefined) {
      box = { v };
      made.set(v, box);
    }
    return box;
  };
};

describe('operate()', () => {
  it('emits de-duplicated by identity and forwards complete and error', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const box = boxes();
      const same = operate<string, { v: string }>((out) => ({ next: (v) => out.emit(box(v)) }));
      const done = cold('aabba|');
      const failed = cold('ab#', undefined, new Error('source failed'));
      expectObservable(
        done.pipe(
          same,
          map((b) => b.v),
        ),
      ).toBe('a-b-a|');
      expectObservable(
        failed.pipe(
          same,
          map((b) => b.v),
        ),
      ).toBe('ab#', undefined, new Error('source failed'));
      expectSubscriptions(done.subscriptions).toBe('^----!');
    });
  });

  it('turns a throw of the body into a stream error and releases the source and the body', () => {
    const boom = new Error('callback failed');
    const released: string[] = [];
    const unhandled = unhandledDuring(() =>
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('ab-c');
        const op = operate<string, string>((out) => ({
          next: (v) => {
            if (v === 'b') throw boom;
            out.emit(v);
          },
          teardown: () => released.push('body'),
        }));
        expectObservable(source.pipe(op)).toBe('a#', undefined, boom);
        expectSubscriptions(source.subscriptions).toBe('^!');
      }),
    );
    expect(unhandled).toEqual([]);
    expect(released).toEqual(['body']);
  });

  it('guards callbacks outside next (timers, promises) and stops calling them once closed', () => {
    const boom = new Error('timer callback failed');
    let calls = 0;
    const errors: unknown[] = [];
    let fire: (() => void) | undefined;
    new Observable<never>()
      .pipe(
        operate<never, never>((out) => {
          fire = out.guard(() => {
            calls++;
            throw boom;
          });
          return { next: () => undefined };
        }),
      )
      .subscribe({ error: (e) => errors.push(e) });
    fire!();
    fire!(); // closed: not called again
    expect(errors).toEqual([boom]);
    expect(calls).toBe(1);
    expect(config.onUnhandledError).toBeNull();
  });
});

describe('combine()', () => {
  it('completes once every source ended, forwards errors unless the body handles them', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = cold('a--|');
      const b = cold('-b-----|');
      const latest = (sources: Observable<string>[]) =>
        combine<string, string>(sources, (out) => ({ next: (k, v) => out.emit(`${k}${v}`) }));
      expectObservable(latest([a, b])).toBe('xy-----|', { x: '0a', y: '1b' });
      const e = cold('-#', undefined, new Error('gone'));
      expectObservable(latest([a, e])).toBe('x#', { x: '0a' }, new Error('gone'));
      const tolerant = combine<string, string>([a, e], (out) => ({
        next: (k, v) => out.emit(`${k}${v}`),
        error: (k) => out.emit(`${k} failed`),
      }));
      expectObservable(tolerant).toBe('xy-|', { x: '0a', y: '1 failed' });
    });
  });
});

import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { SliceEntry } from '../../../../src/backends/kubernetes/codecs.js';
import { expiryTicks } from '../../../../src/backends/kubernetes/source.js';

const scheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

const entries = (...expiries: number[]): SliceEntry[] => [
  { instances: [], expiries: new Map(expiries.map((at, k) => [`i${k}`, at])) },
  { instances: [] }, // a slice nobody registered: no expiry
];

describe('expiryTicks (a registration turning DOWN when its renewal runs out)', () => {
  it('ticks at each expiry after now, in order, then stops', () => {
    const ts = scheduler();
    ts.run(({ expectObservable }) => {
      const e = entries(250, 100, 100, -5);
      expectObservable(
        expiryTicks(
          () => e,
          ts,
          (now) => now,
        ),
      ).toBe('100ms a 149ms b', {
        a: 100,
        b: 250,
      });
    });
  });

  it('arms no timer when nothing expires, and cancels the pending one on unsubscribe', () => {
    const ts = scheduler();
    ts.run(({ expectObservable }) => {
      expectObservable(
        expiryTicks(
          () => entries(),
          ts,
          (now) => now,
        ),
      ).toBe('');
      expectObservable(
        expiryTicks(
          () => entries(300),
          ts,
          (now) => now,
        ),
        '^ 200ms !',
      ).toBe('');
    });
  });
});

/**
 * The DNS watch source on virtual time: one resolution, a snapshot, the
 * wait the resolution asked for, again; skipped records reported when they
 * change, not on every resolution; a failed resolution ends the session.
 */
import { defer, of, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Resolution } from '../../../../src/backends/dns/resolve.js';
import { dnsSource } from '../../../../src/backends/dns/source.js';
import { DecodeError, RegistryUnavailableError } from '../../../../src/core/errors.js';
import { createInstance } from '../../../../src/core/instance.js';

const scheduler = (): TestScheduler => new TestScheduler((a, b) => expect(a).toEqual(b));
const instance = createInstance({ service: 's', host: '10.0.0.1', port: 80 }, 'dns+srv://r/');
const bad = new DecodeError('SRV s -> t:0', ['data.port: expected Port, got 0']);

describe('dnsSource', () => {
  it('resolves again after each answer’s wait, and reports skipped records only when they change', () => {
    const ts = scheduler();
    ts.run(({ expectObservable }) => {
      const answers: Resolution[] = [
        { instances: [instance], skipped: [bad], ttlMs: 3 },
        { instances: [instance], skipped: [bad], ttlMs: 5 },
        { instances: [], skipped: [], ttlMs: 2 },
        { instances: [instance], skipped: [bad], ttlMs: 100 },
      ];
      let n = 0;
      const source = dnsSource(() => defer(() => of(answers[n++]!)), ts);
      expectObservable(source(undefined), '^ 20ms !').toBe('a 2ms b 4ms c 1ms d', {
        a: { type: 'snapshot', instances: [instance], skipped: [bad] },
        b: { type: 'snapshot', instances: [instance] },
        c: { type: 'snapshot', instances: [] },
        d: { type: 'snapshot', instances: [instance], skipped: [bad] },
      });
    });
  });

  it('ends the session with the error of a failed resolution', () => {
    const ts = scheduler();
    ts.run(({ expectObservable }) => {
      const error = new RegistryUnavailableError('no resolver answered');
      let n = 0;
      const source = dnsSource(
        () =>
          defer(() =>
            n++ === 0
              ? of<Resolution>({ instances: [], skipped: [], ttlMs: 4 })
              : throwError(() => error),
          ),
        ts,
      );
      expectObservable(source(undefined)).toBe(
        'a 3ms #',
        { a: { type: 'snapshot', instances: [] } },
        error,
      );
    });
  });
});

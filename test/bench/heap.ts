/**
 * Heap helpers for the operator benches: a forced GC (from `--expose-gc` when
 * given, otherwise enabled at run time through V8 flags) and the PASS/MISS line format.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const exposed = (globalThis as { gc?: () => void }).gc;

/** Runs a full garbage collection. */
export const gc: () => void =
  typeof exposed === 'function'
    ? exposed
    : (() => {
        setFlagsFromString('--expose-gc');
        return runInNewContext('gc') as () => void;
      })();

/** Heap in use after a full GC, in bytes. */
export const settledHeap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

/** `PASS` or `MISS` against a target. */
export const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');

/** The median of some numbers. */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[s.length >> 1]!;
};

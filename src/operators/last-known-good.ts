import { type MonoTypeOperatorFunction, Observable } from 'rxjs';
import {
  DecodeError,
  RegistryUnavailableError,
  type RxdiscoError,
  toRxdiscoError,
} from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { type InstanceSet, replaceAll, stalenessOf } from '../core/instance-set.js';
import {
  decodeLastKnown,
  encodeLastKnown,
  readIfExists,
  writeAtomic,
} from './last-known-good-file.js';

/** Options of {@link lastKnownGood}. */
export interface LastKnownGoodOptions {
  /**
   * A file to persist the last fresh set to (written atomically: temporary
   * file + rename) and to read at subscribe, so that a process starting
   * while the registry is down gets the last known instances. One file per
   * service.
   * @default none (memory only)
   */
  readonly file?: string;
  /**
   * Where problems go: a corrupt cache file (ignored), a failed write.
   * @default a process warning
   */
  readonly onProblem?: (problem: RxdiscoError) => void;
  /**
   * The clock for `savedAt`, in epoch ms.
   * @default Date.now
   */
  readonly now?: () => number;
}

const warn = (problem: RxdiscoError): void => {
  process.emitWarning(problem.message, { code: problem.name });
};

/**
 * Keeps the last fresh, non-empty set and puts it back, marked stale, when
 * the source emits a stale **empty** set (a registry that is unreachable and
 * knew nothing yet, as at a cold start). Everything else passes through
 * unchanged: fresh sets (a fresh empty set is the truth) and stale sets that
 * still hold instances. With `file`, each new fresh non-empty set is persisted
 * (atomically; writes are serialised and only the latest is written), and
 * the file is read at subscribe: a stale empty set that arrives before any
 * fresh one is replaced by the file's instances, marked stale with the
 * source's error. A corrupt or unreadable file is reported to `onProblem`
 * and ignored. Fresh sets are never delayed; a stale empty set waits for the
 * file to be read.
 *
 * @example
 * ```ts
 * const hello$ = registry
 *   .instances$('hello')
 *   .pipe(lastKnownGood({ file: '/var/cache/myapp/hello.json' }));
 * const hello = live(hello$.pipe(healthy(), roundRobin()));
 * ```
 */
export const lastKnownGood =
  (options: LastKnownGoodOptions = {}): MonoTypeOperatorFunction<InstanceSet> =>
  (source) =>
    new Observable<InstanceSet>((subscriber) => {
      const file = options.file;
      const onProblem = options.onProblem ?? warn;
      const now = options.now ?? Date.now;
      let good: readonly Instance[] | undefined;
      let output: InstanceSet | undefined;
      let closed = false;
      /** Stale empty set waiting for the file to be read. */
      let waiting: InstanceSet | undefined;
      let loaded = file === undefined;
      let writing = false;
      let pending: InstanceSet | undefined;

      const emit = (set: InstanceSet): void => {
        if (set === output) return;
        output = set;
        subscriber.next(set);
      };

      const handle = (set: InstanceSet): void => {
        if (!set.stale) {
          if (set.size > 0) {
            good = set.instances;
            save(set);
          }
          emit(set);
          return;
        }
        if (set.size > 0 || good === undefined || good[0]?.service !== set.service) {
          emit(set);
          return;
        }
        const base = output ?? set;
        emit(replaceAll(base, good, stalenessOf(set)));
      };

      const save = (set: InstanceSet): void => {
        if (file === undefined) return;
        pending = set;
        if (writing) return;
        writing = true;
        const loop = async (): Promise<void> => {
          while (pending !== undefined) {
            const next = pending;
            pending = undefined;
            try {
              await writeAtomic(file, encodeLastKnown(next, now()));
            } catch (e) {
              onProblem(toRxdiscoError(e, { service: next.service, registry: next.registry }));
            }
          }
          writing = false;
        };
        void loop();
      };

      if (file !== undefined) {
        readIfExists(file).then(
          (text) => {
            if (closed) return;
            if (text !== undefined) {
              const d = decodeLastKnown(text, file);
              if (!d.ok) onProblem(d.error);
              else if (d.value.instances.some((i) => i.service !== d.value.service)) {
                onProblem(
                  new DecodeError(file, ['instances: expected instances of one service'], {}),
                );
              } else if (good === undefined && d.value.instances.length > 0) {
                good = d.value.instances;
              }
            }
            loaded = true;
            const w = waiting;
            waiting = undefined;
            if (w !== undefined) handle(w);
          },
          (e: unknown) => {
            if (closed) return;
            onProblem(
              new RegistryUnavailableError(
                `cannot read the last-known-good file ${file}: ${(e as Error).message}`,
                { cause: e },
              ),
            );
            loaded = true;
            const w = waiting;
            waiting = undefined;
            if (w !== undefined) handle(w);
          },
        );
      }

      const upstream = source.subscribe({
        next: (set) => {
          if (!loaded && set.stale && set.size === 0 && good === undefined) {
            waiting = set;
            return;
          }
          waiting = undefined;
          handle(set);
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
      return () => {
        closed = true;
        upstream.unsubscribe();
      };
    });

import type { MonoTypeOperatorFunction } from 'rxjs';
import { ConfigError, DecodeError, type RxdiscoError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { type InstanceSet, replaceAll, stalenessOf } from '../core/instance-set.js';
import {
  decodeLastKnown,
  encodeLastKnown,
  readIfExists,
  writeAtomic,
} from './last-known-good-file.js';
import { operate } from './operate.js';

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
   * Where problems go: a corrupt cache file (a `DecodeError`, the file is
   * ignored), a file that cannot be read or written (a `ConfigError` naming
   * the file). If it throws, the stream errors with the thrown error.
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

/** A cache file that cannot be read or written: a problem of the `file` option, not of the registry. */
const fileError = (
  file: string,
  operation: 'read' | 'written',
  e: unknown,
  set: InstanceSet | undefined,
): ConfigError =>
  new ConfigError(
    'file',
    `${file} cannot be ${operation} (${e instanceof Error ? e.message : String(e)})`,
    `check the path, that its directory exists and that this process may ${operation === 'read' ? 'read' : 'write'} it`,
    set === undefined ? { cause: e } : { service: set.service, registry: set.registry, cause: e },
  );

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
 * and ignored (a `DecodeError` or a `ConfigError` naming the file). Fresh sets are never delayed; a stale empty set waits for the
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
export const lastKnownGood = (
  options: LastKnownGoodOptions = {},
): MonoTypeOperatorFunction<InstanceSet> => {
  const file = options.file;
  if (file !== undefined && (typeof file !== 'string' || file === '')) {
    throw new ConfigError(
      'file',
      `must be a non-empty path (got ${JSON.stringify(file)})`,
      'pass the cache file of this service, such as /var/cache/myapp/hello.json',
    );
  }
  const onProblem = options.onProblem ?? warn;
  const now = options.now ?? Date.now;
  return operate((out) => {
    let good: readonly Instance[] | undefined;
    /** Stale empty set waiting for the file to be read. */
    let waiting: InstanceSet | undefined;
    let loaded = file === undefined;
    let writing = false;
    let pending: InstanceSet | undefined;

    const handle = (set: InstanceSet): void => {
      if (!set.stale) {
        if (set.size > 0) {
          good = set.instances;
          save(set);
        }
        out.emit(set);
        return;
      }
      if (set.size > 0 || good === undefined || good[0]?.service !== set.service) {
        out.emit(set);
        return;
      }
      out.emit(replaceAll(out.last ?? set, good, stalenessOf(set)));
    };

    const save = (set: InstanceSet): void => {
      if (file === undefined) return;
      pending = set;
      if (writing) return;
      writing = true;
      const encode = out.guard((s: InstanceSet) => encodeLastKnown(s, now()));
      const report = out.guard(onProblem);
      const loop = async (): Promise<void> => {
        while (pending !== undefined && !out.closed) {
          const next = pending;
          pending = undefined;
          const text = encode(next);
          if (text === undefined) break;
          try {
            await writeAtomic(file, text);
          } catch (e) {
            report(fileError(file, 'written', e, next));
          }
        }
        writing = false;
      };
      void loop();
    };

    const read = (problem: RxdiscoError | undefined): void => {
      if (problem !== undefined) onProblem(problem);
      loaded = true;
      const w = waiting;
      waiting = undefined;
      if (w !== undefined) handle(w);
    };

    if (file !== undefined) {
      readIfExists(file).then(
        out.guard((text: string | undefined) => {
          if (text === undefined) return read(undefined);
          const d = decodeLastKnown(text, file);
          if (!d.ok) return read(d.error);
          if (d.value.instances.some((i) => i.service !== d.value.service)) {
            return read(
              new DecodeError(file, ['instances: expected instances of one service'], {}),
            );
          }
          if (good === undefined && d.value.instances.length > 0) good = d.value.instances;
          read(undefined);
        }),
        out.guard((e: unknown) => read(fileError(file, 'read', e, undefined))),
      );
    }

    return {
      next: (set) => {
        if (!loaded && set.stale && set.size === 0 && good === undefined) {
          waiting = set;
          return;
        }
        waiting = undefined;
        handle(set);
      },
    };
  });
};

import type { Observable } from 'rxjs';
import { ConfigError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { applyChanges, type InstanceSet, replaceAll, stalenessOf } from '../core/instance-set.js';
import { combine } from './operate.js';

/**
 * Why {@link fallback} chose a source, for {@link FallbackOptions.onSwitch}.
 *
 * @example
 * ```ts
 * fallback([a$, b$], { onSwitch: ({ from, to, kind }) => log.info(`${from} -> ${to} (${kind})`) });
 * ```
 */
export interface FallbackSwitch {
  /** Index (in the `sources` array) of the source now used. */
  readonly to: number;
  /** Index of the source used before; `undefined` at the first choice. */
  readonly from: number | undefined;
  /**
   * `fresh`: the first source with a fresh, non-empty set; `stale`: no
   * source is fresh and non-empty, this one has stale instances; `empty`:
   * no source has any instance.
   */
  readonly kind: 'fresh' | 'stale' | 'empty';
}

/** Options of {@link fallback}. */
export interface FallbackOptions {
  /**
   * Called each time the source used changes (and at the first choice).
   * If it throws, the stream errors with the thrown error.
   * @default none
   */
  readonly onSwitch?: (change: FallbackSwitch) => void;
}

interface SourceState {
  set: InstanceSet | undefined;
  failed: boolean;
}

/** The source to use: first fresh non-empty, else first non-empty, else first that emitted. */
const choose = (
  states: readonly SourceState[],
): { index: number; kind: FallbackSwitch['kind'] } | undefined => {
  let stale = -1;
  let empty = -1;
  for (let k = 0; k < states.length; k++) {
    const s = states[k]!;
    if (s.failed || s.set === undefined) continue;
    if (s.set.size > 0 && !s.set.stale) return { index: k, kind: 'fresh' };
    if (s.set.size > 0) {
      if (stale < 0) stale = k;
    } else if (empty < 0 || (states[empty]!.set!.stale && !s.set.stale)) empty = k;
  }
  if (stale >= 0) return { index: stale, kind: 'stale' };
  return empty >= 0 ? { index: empty, kind: 'empty' } : undefined;
};

/**
 * Several registries (or pipelines) for one service, in order of
 * preference: emits the set of the first source whose set is fresh and not
 * empty; switches to the next one when it turns stale, empty or fails, and
 * back as soon as it recovers. When no source is fresh and non-empty, the
 * first one with (stale) instances is used: **an empty set is never emitted
 * while some source has instances**. Until one source is fresh and
 * non-empty, nothing is emitted before every source has emitted once (so
 * that a slow primary does not make it emit an empty set). The output is
 * one continuous stream of sets with deltas (balancer state is kept across
 * switches); each instance keeps its `registry`. It fails only when every
 * source has failed, and completes when every source has ended.
 *
 * @throws {ConfigError} when `sources` is not a non-empty array.
 * @example
 * ```ts
 * const hello$ = fallback([
 *   discovery('etcd://10.0.0.1:2379/services/').instances$('hello'),
 *   discovery('consul://10.0.0.2:8500').instances$('hello'),
 *   discovery('static://10.0.0.9:8080').instances$('hello'),
 * ]);
 * const hello = live(hello$.pipe(healthy(), roundRobin()));
 * ```
 */
export const fallback = (
  sources: readonly Observable<InstanceSet>[],
  options: FallbackOptions = {},
): Observable<InstanceSet> => {
  if (!Array.isArray(sources) || sources.length === 0) {
    throw new ConfigError(
      'fallback',
      'needs a non-empty array of sources',
      'pass instances$ streams in order of preference: fallback([primary$, secondary$])',
    );
  }
  const onSwitch = options.onSwitch;
  return combine<InstanceSet, InstanceSet>(sources, (out) => {
    const states: SourceState[] = sources.map(() => ({ set: undefined, failed: false }));
    let current: number | undefined;
    /** The source set the output was last built from. */
    let basis: InstanceSet | undefined;

    const update = (): void => {
      const choice = choose(states);
      if (choice === undefined) return;
      const output = out.last;
      const allSeen = states.every((s) => s.failed || s.set !== undefined);
      if (choice.kind !== 'fresh' && !allSeen && output === undefined) return;
      const set = states[choice.index]!.set!;
      if (choice.index !== current) {
        onSwitch?.({ to: choice.index, from: current, kind: choice.kind });
      }
      let next: InstanceSet;
      if (output === undefined) next = set;
      else if (
        choice.index === current &&
        basis !== undefined &&
        set.delta !== undefined &&
        set.delta.from === basis.version
      ) {
        const upserts: Instance[] = [...set.delta.added];
        for (const u of set.delta.updated) upserts.push(u.current);
        next = applyChanges(
          output,
          upserts,
          set.delta.removed.map((r) => r.id),
          stalenessOf(set),
        );
      } else next = replaceAll(output, set.instances, stalenessOf(set));
      current = choice.index;
      basis = set;
      out.emit(next);
    };

    return {
      next: (k, set) => {
        states[k]!.set = set;
        update();
      },
      error: (k, e) => {
        states[k]!.failed = true;
        if (states.every((s) => s.failed)) out.error(e);
        else update();
      },
    };
  });
};

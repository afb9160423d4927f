import type { OperatorFunction } from 'rxjs';
import { ConfigError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import type { InstanceSet } from '../../core/instance-set.js';
import { numberOption } from '../../core/options.js';
import { type BalancerExplanation, candidateOf } from '../explain.js';
import { type Balancer, balancerOperator } from './balancer.js';
import { type RandomSource, randomSource } from './fast-random.js';
import { hashString, mix32 } from './hash.js';

/** Options of {@link consistentHash}. */
export interface ConsistentHashOptions {
  /**
   * Points on the ring per unit of weight: an instance of weight `w` gets
   * `round(virtualNodes * w)` points (at least 1 when `w > 0`). More points
   * spread keys more evenly and cost memory and build time per set.
   * @default 160
   */
  readonly virtualNodes?: number;
  /**
   * Hash of a key to an integer in [0, 2^32). Must be synchronous; keep it
   * allocation-free, it runs on every pick.
   * @default FNV-1a with a murmur3 finaliser (built in)
   */
  readonly hash?: (key: string) => number;
  /**
   * Source of uniform numbers in [0, 1), used by `pick()` without a key (a
   * random point of the ring, hence probability proportional to weight).
   * @default a fast xoshiro128** generator seeded from `Math.random()` per subscription
   */
  readonly random?: () => number;
}

/** Ring points of one instance, cached by id across sets. */
interface Points {
  readonly weight: number;
  readonly points: Uint32Array;
}

interface HashState {
  readonly points: Map<string, Points>;
  readonly random: RandomSource;
}

/** 2^20: owners are packed under the point in one float64 (up to 2^20 instances). */
const OWNER = 1_048_576;

/**
 * The ring points of an instance id (internal; exported for tests): each
 * virtual node re-mixes the id's hash with its index.
 *
 * @example
 * ```ts
 * ringPoints('hello-1', 160); // 160 points in [0, 2^32)
 * ```
 */
export const ringPoints = (id: string, count: number): Uint32Array => {
  const out = new Uint32Array(count);
  const base = hashString(id);
  for (let r = 0; r < count; r++) out[r] = mix32(base ^ Math.imul(r + 1, 0x9e3779b9));
  return out;
};

class ConsistentHashPicker implements Balancer {
  readonly set: InstanceSet;
  readonly size: number;
  readonly #owners: readonly Instance[];
  /** Sorted ring points. */
  readonly #ring: Uint32Array;
  /** `#owner[k]`: index in `#owners` of the instance owning `#ring[k]`. */
  readonly #owner: Uint32Array;
  /**
   * One entry per bucket of hashes (the top bits of a hash): the index in
   * `#owners` of the answer when no ring point falls inside the bucket (most
   * buckets), else `~j` where `j` is the first ring index inside it, from
   * which a pick scans the bucket's few points.
   */
  readonly #table: Int32Array;
  readonly #shift: number;
  readonly #hash: (key: string) => number;
  readonly #random: RandomSource;

  constructor(
    set: InstanceSet,
    state: HashState,
    virtualNodes: number,
    hash: (key: string) => number,
  ) {
    this.set = set;
    this.#hash = hash;
    this.#random = state.random;
    const owners: Instance[] = [];
    const lists: Uint32Array[] = [];
    let total = 0;
    for (const i of set.instances) {
      if (!(i.weight > 0)) continue;
      const count = Math.max(1, Math.round(virtualNodes * i.weight));
      let cached = state.points.get(i.id);
      if (cached === undefined || cached.weight !== i.weight) {
        cached = { weight: i.weight, points: ringPoints(i.id, count) };
        state.points.set(i.id, cached);
      }
      owners.push(i);
      lists.push(cached.points);
      total += cached.points.length;
    }
    for (const id of state.points.keys()) if (set.get(id) === undefined) state.points.delete(id);
    if (owners.length >= OWNER) {
      throw new ConfigError(
        'consistentHash',
        `supports at most ${OWNER - 1} instances (got ${owners.length})`,
        'split the service or use another balancer',
      );
    }
    // Pack (point, owner) into one float64 so that a typed-array sort orders the ring.
    const packed = new Float64Array(total);
    let k = 0;
    for (let o = 0; o < lists.length; o++) {
      const points = lists[o]!;
      for (let r = 0; r < points.length; r++) packed[k++] = points[r]! * OWNER + o;
    }
    packed.sort();
    const ring = new Uint32Array(total);
    const owner = new Uint32Array(total);
    for (let j = 0; j < total; j++) {
      const v = packed[j]!;
      const o = v % OWNER;
      ring[j] = (v - o) / OWNER;
      owner[j] = o;
    }
    // About eight buckets per point (at most 2^20): seven picks in eight read
    // their owner straight from the table.
    const bits = Math.min(20, Math.max(4, Math.ceil(Math.log2(Math.max(1, total))) + 3));
    const shift = 32 - bits;
    const table = new Int32Array(1 << bits);
    let j = 0;
    for (let b = 0; b < 1 << bits; b++) {
      while (j < total && ring[j]! < b * 2 ** shift) j++;
      const end = (b + 1) * 2 ** shift;
      if (j < total && ring[j]! < end) table[b] = ~j;
      else table[b] = total === 0 ? 0 : owner[j === total ? 0 : j]!;
    }
    this.#owners = owners;
    this.#ring = ring;
    this.#owner = owner;
    this.#table = table;
    this.#shift = shift;
    this.size = owners.length;
    Object.freeze(this);
  }

  pick(key?: string): Instance | undefined {
    const owners = this.#owners;
    if (owners.length === 0) return undefined;
    const h =
      key === undefined ? Math.floor(this.#random.next() * 0x1_0000_0000) : this.#hash(key) >>> 0;
    const e = this.#table[h >>> this.#shift]!;
    if (e >= 0) return owners[e];
    // The bucket holds ring points: the answer is the first point >= h,
    // wrapping around to the start of the ring.
    const ring = this.#ring;
    const n = ring.length;
    let j = ~e;
    while (j < n && ring[j]! < h) j++;
    return owners[this.#owner[j === n ? 0 : j]!];
  }

  explain(): BalancerExplanation {
    const ring = this.#ring;
    const owner = this.#owner;
    const n = ring.length;
    const share = new Float64Array(this.#owners.length);
    // The arc that ends at point j (from the point before it) maps to its owner.
    for (let j = 0; j < n; j++) {
      const from = j === 0 ? ring[n - 1]! - 0x1_0000_0000 : ring[j - 1]!;
      share[owner[j]!]! += (ring[j]! - from) / 0x1_0000_0000;
    }
    const excluded = this.set.instances
      .filter((i) => !(i.weight > 0))
      .map((i) => ({ id: i.id, why: 'weight 0' }));
    return {
      kind: 'consistentHash',
      rule: 'the key hashed onto a ring of virtual nodes: the owner of the next point',
      candidates: this.#owners.map((i, k) =>
        candidateOf(i, i.weight, { score: share[k]!, scoreIs: 'share of the key space' }),
      ),
      ...(excluded.length === 0 ? {} : { excluded }),
      detail: { points: n },
    };
  }

  started(): void {}

  finished(): void {}
}

/**
 * Consistent hashing on a ring with virtual nodes: `pick(key)` always maps
 * the same key to the same instance while the set does not change, and when
 * one instance of N joins or leaves only about 1/N of the keys move (those
 * of its own points). Each instance gets points in proportion to its
 * `weight`; weight 0 is never picked. `pick()` without a key picks a random
 * point (probability proportional to weight). A pick hashes the key and
 * reads its owner from a table of about eight buckets per ring point, or
 * scans the few points of its bucket when it holds some: O(1), no
 * allocation. Ring points are cached by instance id across sets, so a set
 * change costs one sort of the ring.
 *
 * @example
 * ```ts
 * const sessions = live(registry.instances$('sessions').pipe(healthy(), consistentHash()));
 * const owner = sessions.pick(`user:${userId}`); // the same instance for the same user
 * ```
 */
export const consistentHash = (
  options: ConsistentHashOptions = {},
): OperatorFunction<InstanceSet, Balancer> => {
  const virtualNodes = numberOption('virtualNodes', options.virtualNodes, 160, {
    integer: true,
    min: 1,
    max: 10_000,
    fix: 'use the default (160) unless keys spread unevenly',
  });
  const hash = options.hash ?? hashString;
  const custom = options.random;
  return balancerOperator<HashState>(
    () => ({ points: new Map(), random: randomSource(custom) }),
    (set, state) => new ConsistentHashPicker(set, state, virtualNodes, hash),
  );
};

/**
 * A source of uniform numbers in [0, 1) for the random balancers (internal).
 * A method call on a class, so that V8 inlines it and the double it returns
 * is never boxed: picks stay allocation-free (`Math.random()` allocates a
 * heap number per call).
 *
 * @example
 * ```ts
 * const half: RandomSource = { next: () => 0.5 };
 * ```
 */
export interface RandomSource {
  next(): number;
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/**
 * xoshiro128** (Blackman and Vigna): fast, 2^128 - 1 period, good enough to
 * spread load; not for secrets. Seeded from `Math.random()` unless given a seed.
 *
 * @example
 * ```ts
 * const rng = new FastRandom();
 * rng.next(); // 0.7021...
 * ```
 */
export class FastRandom implements RandomSource {
  readonly #s = new Int32Array(4);

  constructor(seed: number = Math.random() * 0x1_0000_0000) {
    // splitmix32 spreads the seed over the 128 bits of state (never all zero).
    let x = seed >>> 0;
    for (let k = 0; k < 4; k++) {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.#s[k] = z ^ (z >>> 16);
    }
    if ((this.#s[0]! | this.#s[1]! | this.#s[2]! | this.#s[3]!) === 0) this.#s[0] = 1;
  }

  next(): number {
    const s = this.#s;
    const s0 = s[0]!;
    const s1 = s[1]!;
    let s2 = s[2]!;
    let s3 = s[3]!;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s[1] = s1 ^ s2;
    s[0] = s0 ^ s3;
    s[2] = s2 ^ t;
    s[3] = rotl(s3, 11);
    return (result >>> 0) / 0x1_0000_0000;
  }
}

/** A user-supplied `() => number` as a {@link RandomSource}. */
class CustomRandom implements RandomSource {
  readonly #random: () => number;

  constructor(random: () => number) {
    this.#random = random;
  }

  next(): number {
    return this.#random();
  }
}

/**
 * The source for a balancer's `random` option: the given function, else a {@link FastRandom}.
 *
 * @example
 * ```ts
 * const source = randomSource(options.random);
 * const index = Math.floor(source.next() * n);
 * ```
 */
export const randomSource = (random: (() => number) | undefined): RandomSource =>
  random === undefined ? new FastRandom() : new CustomRandom(random);

/**
 * The two distinct indices of a power-of-two-choices pick (`n >= 2`): the
 * first uniform in [0, n), the second uniform among the others. Written into
 * `out` (index 0 and 1) so that a pick allocates nothing.
 *
 * @example
 * ```ts
 * const pair = new Int32Array(2);
 * twoChoices(rng, list.length, pair); // pair[0] !== pair[1]
 * ```
 */
export const twoChoices = (random: RandomSource, n: number, out: Int32Array): void => {
  const a = Math.floor(random.next() * n) % n;
  const b = Math.floor(random.next() * (n - 1)) % (n - 1);
  out[0] = a;
  out[1] = b >= a ? b + 1 : b;
};

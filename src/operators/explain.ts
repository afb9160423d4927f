/**
 * What `explain()` on a live balancer returns, and the notes that set
 * operators leave on the sets they emit (tiers, subsets, ejections,
 * refused updates) so that the explanation can say why a candidate is, or
 * is not, there. Everything is plain data (JSON-friendly), for logs and
 * the CLI.
 *
 * @module
 */
import type { Instance } from '../core/instance.js';
import { formatHostPort } from '../core/url.js';

/**
 * One instance a balancer could pick, as its `explain` hook sees it.
 *
 * @example
 * ```ts
 * const c: Candidate = { id: 'a', address: '10.0.0.1:8080', weight: 1, inFlight: 2, score: 61.5 };
 * ```
 */
export interface Candidate {
  /** The instance's id. */
  readonly id: string;
  /** `host:port` (IPv6 hosts bracketed). */
  readonly address: string;
  /** The weight the balancer uses now (its effective weight: slow start, load reports, tiers). */
  readonly weight: number;
  /** Calls in flight, for balancers that count them. */
  readonly inFlight?: number;
  /** The balancer's score of the instance (lower is better for `ewma`; see the balancer's doc). */
  readonly score?: number;
  /** What the score is, in words (`'peak-EWMA latency ms × (in flight + 1) ÷ weight'`). */
  readonly scoreIs?: string;
  /** The zone, when the instance has one. */
  readonly zone?: string;
}

/**
 * What a balancer says of its current state: its kind and its candidates.
 * Returned by the optional `explain` hook of a {@link Balancer}.
 *
 * @example
 * ```ts
 * const e: BalancerExplanation = { kind: 'roundRobin', rule: 'id order', candidates: [] };
 * ```
 */
export interface BalancerExplanation {
  /** The balancer: `roundRobin`, `random`, `weightedRoundRobin`, `leastRequest`, `ewma`, `consistentHash`. */
  readonly kind: string;
  /** How it picks, in one sentence. */
  readonly rule: string;
  /** The instances it picks from, in id order. */
  readonly candidates: readonly Candidate[];
  /** Instances of its set it never picks, with why (`weight 0`). */
  readonly excluded?: readonly { readonly id: string; readonly why: string }[];
  /** Anything else the balancer wants to say (the next instance in turn...). */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/**
 * A note a set operator left on a set it emitted: what it did to get it.
 * Notes travel downstream through the other set operators (each emitted
 * set carries the notes of the set it came from), so the set a balancer
 * picks from carries every note of its pipeline, upstream first.
 *
 * @example
 * ```ts
 * { operator: 'subset', detail: { size: 20, of: 300, clientId: 'pod-7' } }
 * { operator: 'outlierEjection', detail: { ejected: [{ id: 'b', forMs: 30000 }] } }
 * ```
 */
export interface SetNote {
  /** The operator: `byLocality`, `subset`, `outlierEjection`, `panicGuard`... */
  readonly operator: string;
  /** What it did, as plain data. */
  readonly detail: Readonly<Record<string, unknown>>;
}

/**
 * Why the last pick of a live balancer was made: the set and its
 * staleness, the instance picked last, the balancer's candidates with their
 * weights or scores, and the notes of the operators upstream (which tier,
 * which subset, who was ejected, which update was refused). A plain object:
 * `JSON.stringify` it to log it; `rxdisco watch --explain` prints it.
 *
 * @example
 * ```ts
 * const why = hello.explain();
 * console.log(why.picked?.id, why.balancer?.candidates.map((c) => `${c.id}:${c.score}`));
 * ```
 */
export interface PickExplanation {
  /** The service, once a set arrived. */
  readonly service: string | undefined;
  /** The registry (redacted URL), once a set arrived. */
  readonly registry: string | undefined;
  /** True when the set is the last known one of a registry that is unreachable. */
  readonly stale: boolean;
  /** How many instances the balancer's set holds. */
  readonly size: number;
  /** The instance of the last `pick()` (or `pickAsync()`), and the key it was picked with. */
  readonly picked:
    | { readonly id: string; readonly address: string; readonly key?: string }
    | undefined;
  /** What the balancer says of itself; `undefined` before the first set. */
  readonly balancer: BalancerExplanation | undefined;
  /** The notes of the set operators upstream, upstream first. */
  readonly notes: readonly SetNote[];
  /** The stream's error, when it failed (the last balancer is still in use). */
  readonly error?: string;
}

const notes = new WeakMap<object, readonly SetNote[]>();
const NONE: readonly SetNote[] = Object.freeze([]);

/**
 * The notes a set carries (internal: what `explain()` reads).
 */
export const notesOf = (set: object): readonly SetNote[] => notes.get(set) ?? NONE;

/**
 * Leaves `note` on `set`, replacing an earlier note of the same operator on
 * it (internal: for set operators; call it before emitting the set).
 */
export const noteSet = (set: object, note: SetNote): void => {
  const old = notes.get(set) ?? NONE;
  notes.set(set, Object.freeze([...old.filter((n) => n.operator !== note.operator), note]));
};

/**
 * A note whose detail is built when first read (internal: an operator
 * leaves one per emission at no cost; `explain()` reads the few it needs).
 * `detail` must only read values captured for this emission.
 */
export const lazyNote = (operator: string, detail: () => Record<string, unknown>): SetNote => {
  let built: Readonly<Record<string, unknown>> | undefined;
  return {
    operator,
    get detail() {
      built ??= Object.freeze(detail());
      return built;
    },
  };
};

/**
 * Carries the notes of `from` (an operator's input) onto `to` (what it
 * emits), before `to`'s own notes (internal: the operator helper does it
 * for every set operator). An operator's own note wins over an upstream
 * note of the same operator.
 */
export const carryNotes = (from: unknown, to: unknown): void => {
  if (from === to || typeof from !== 'object' || from === null) return;
  if (typeof to !== 'object' || to === null) return;
  const upstream = notes.get(from);
  if (upstream === undefined) return;
  const own = notes.get(to);
  if (own === undefined) {
    notes.set(to, upstream);
    return;
  }
  const mine = new Set(own.map((n) => n.operator));
  notes.set(to, Object.freeze([...upstream.filter((n) => !mine.has(n.operator)), ...own]));
};

/** The `address` of an instance: `host:port`, IPv6 hosts bracketed (internal). */
export const addressOf = (i: Instance): string => formatHostPort(i.host, i.port);

/** A candidate for an explanation (internal: for balancers' `explain` hooks). */
export const candidateOf = (
  i: Instance,
  weight: number,
  extra: { inFlight?: number; score?: number; scoreIs?: string } = {},
): Candidate => ({
  id: i.id,
  address: addressOf(i),
  weight,
  ...extra,
  ...(i.zone === undefined ? {} : { zone: i.zone }),
});

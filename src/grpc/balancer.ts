/**
 * The balancing of one gRPC channel, independent of grpc-js's API (the
 * adapter, `adapter.ts`, connects it): one connection per resolved instance,
 * the set of instances whose connection is READY fed to an rxdisco balancer
 * operator, and every call's status and latency fed back to the balancer
 * (and to an outlier detector) when the call ends.
 *
 * @module
 */
import { type OperatorFunction, Subject, type Subscription } from 'rxjs';
import type { Instance } from '../core/instance.js';
import { filterSet, type InstanceSet } from '../core/instance-set.js';
import type { Balancer, Outcome } from '../operators/balancers/balancer.js';
import { CANCELLED } from '../operators/balancers/balancer.js';
import type { OutlierDetector } from '../operators/outlier-ejection.js';

/** A connection's state, as grpc-js's subchannel states. */
export type ConnState = 'idle' | 'connecting' | 'ready' | 'failure' | 'shutdown';

/** One connection (a grpc-js subchannel), seen through the adapter. */
export interface Conn {
  /** The grpc-js subchannel, handed back to grpc-js in a pick. */
  readonly handle: unknown;
  state(): ConnState;
  /** Asks an idle connection to connect. */
  connect(): void;
  /** Lets the connection go (the channel may close it). */
  release(): void;
}

/** What the channel balancer needs from grpc-js, given by the adapter. */
export interface ChannelHost {
  /** Opens a connection to `host:port`; `changed` is called on every state change. */
  connect(host: string, port: number, changed: () => void): Conn;
  /** Publishes the channel's state: READY with a picker, CONNECTING (calls queue) or a failure. */
  publish(state: 'ready' | 'connecting' | 'failure', details: string): void;
}

/** What a channel balances with: made once per resolver registration. */
export interface ChannelPolicy {
  /** The balancer operator (a fresh state per channel: each channel applies it to its own stream). */
  readonly balancer: OperatorFunction<InstanceSet, Balancer>;
  /** Outcomes are reported to it too. */
  readonly detector: OutlierDetector | undefined;
  /** The call metadata key whose value is the pick key (`consistentHash()`). */
  readonly keyHeader: string;
  /** The clock for latencies, in ms. */
  readonly now: () => number;
}

/** A pick: the connection to use and the callbacks of the call's life. */
export interface ChannelPick {
  readonly conn: Conn;
  started(): void;
  /** The call ended with gRPC status `code`. */
  ended(code: number): void;
}

// gRPC status codes (the gRPC spec's numbers).
const CANCELLED_CODE = 1;
const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;

/**
 * How a call that ended with gRPC status `code` counts for a balancer and
 * an outlier detector: UNAVAILABLE and DEADLINE_EXCEEDED are failures of
 * the instance, CANCELLED says nothing about it, every other status
 * (application errors included) is a success of the instance.
 */
export const outcomeOf = (code: number, latencyMs: number): Outcome =>
  code === CANCELLED_CODE
    ? CANCELLED
    : { ok: code !== UNAVAILABLE && code !== DEADLINE_EXCEEDED, latencyMs };

const addressOf = (i: Instance): string => `${i.host}\u0000${i.port}`;

/** The balancing state of one channel. */
export class ChannelBalancer {
  readonly #host: ChannelHost;
  readonly #conns = new Map<string, Conn>();
  readonly #sets = new Subject<InstanceSet>();
  #policy: ChannelPolicy | undefined;
  #subscription: Subscription | undefined;
  #set: InstanceSet | undefined;
  #view: { input: InstanceSet; output: InstanceSet } | undefined;
  #balancer: Balancer | undefined;
  #failure: string | undefined;
  #destroyed = false;

  constructor(host: ChannelHost) {
    this.#host = host;
  }

  /** A new resolution: the instances to connect to and balance over. */
  update(set: InstanceSet, policy: ChannelPolicy): void {
    if (this.#destroyed) return;
    if (this.#policy !== policy) {
      this.#subscription?.unsubscribe();
      this.#policy = policy;
      this.#view = undefined;
      this.#balancer = undefined;
      this.#subscription = this.#sets.pipe(policy.balancer).subscribe({
        next: (b) => {
          this.#balancer = b;
          this.#publish();
        },
        error: (e: unknown) => {
          this.#failure = `the rxdisco balancer failed: ${e instanceof Error ? e.message : String(e)}`;
          this.#balancer = undefined;
          this.#publish();
        },
      });
    }
    this.#set = set;
    const wanted = new Set<string>();
    for (const i of set.instances) {
      const address = addressOf(i);
      wanted.add(address);
      if (!this.#conns.has(address)) {
        const conn = this.#host.connect(i.host, i.port, () => this.#changed(conn));
        this.#conns.set(address, conn);
        conn.connect();
      }
    }
    for (const [address, conn] of this.#conns) {
      if (!wanted.has(address)) {
        this.#conns.delete(address);
        conn.release();
      }
    }
    this.#feed();
  }

  /** Asks idle connections to connect (the channel left idleness). */
  exitIdle(): void {
    for (const conn of this.#conns.values()) if (conn.state() === 'idle') conn.connect();
  }

  /** Picks a connection for a call with pick key `key`; `undefined`: none to pick. */
  pick(key: string | undefined): ChannelPick | undefined {
    const balancer = this.#balancer;
    const policy = this.#policy;
    if (balancer === undefined || policy === undefined) return undefined;
    const instance = balancer.pick(key);
    if (instance === undefined) return undefined;
    const conn = this.#conns.get(addressOf(instance));
    if (conn === undefined || conn.state() !== 'ready') return undefined;
    let t0 = 0;
    return {
      conn,
      started: () => {
        t0 = policy.now();
        balancer.started(instance);
      },
      ended: (code) => {
        const outcome = outcomeOf(code, policy.now() - t0);
        balancer.finished(instance, outcome);
        policy.detector?.report(instance, outcome);
      },
    };
  }

  /** The channel's key header, for the adapter's picker. */
  get keyHeader(): string | undefined {
    return this.#policy?.keyHeader;
  }

  /** Releases every connection and the balancer's subscription. */
  destroy(): void {
    this.#destroyed = true;
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    for (const conn of this.#conns.values()) conn.release();
    this.#conns.clear();
    this.#balancer = undefined;
  }

  #changed(conn: Conn): void {
    if (this.#destroyed) return;
    if (conn.state() === 'idle') conn.connect();
    this.#feed();
  }

  /** Feeds the balancer the instances whose connection is READY. */
  #feed(): void {
    const set = this.#set;
    if (set === undefined || this.#destroyed) return;
    // filterSet re-checks every instance when the input is the same set (a
    // connection changed state) and only the changed ones on a delta.
    const ready = filterSet(
      set,
      (i) => this.#conns.get(addressOf(i))?.state() === 'ready',
      this.#view,
    );
    const unchanged = this.#view?.output === ready;
    this.#view = { input: set, output: ready };
    if (unchanged && this.#balancer !== undefined) this.#publish();
    else this.#sets.next(ready);
  }

  #publish(): void {
    const set = this.#set;
    if (set === undefined) return;
    if (this.#failure !== undefined) {
      this.#host.publish('failure', this.#failure);
      return;
    }
    if (this.#balancer !== undefined && this.#balancer.size > 0) {
      this.#host.publish('ready', '');
      return;
    }
    if (set.size === 0) {
      this.#host.publish('failure', `no instance of ${set.service} in ${set.registry}`);
      return;
    }
    let waiting = false;
    for (const conn of this.#conns.values()) {
      const s = conn.state();
      if (s === 'idle' || s === 'connecting') waiting = true;
    }
    if (waiting) this.#host.publish('connecting', '');
    else
      this.#host.publish(
        'failure',
        `no instance of ${set.service} in ${set.registry} accepts connections (${set.size} tried)`,
      );
  }
}

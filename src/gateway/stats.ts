/**
 * The gateway's live counters per instance (picks, in flight, ejections),
 * kept by wrapping each service's balancer. An instance's counters are
 * dropped when it leaves its service's set, a service's when the gateway
 * forgets the service: nothing grows with the instances ever seen.
 *
 * @module
 */
import { map, type Observable, type OperatorFunction, type Subscription, tap } from 'rxjs';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import type { Balancer, Outcome } from '../operators/balancers/balancer.js';
import type { OutlierDetector } from '../operators/outlier-ejection.js';
import type { InstanceStats } from './status-source.js';

interface Counters {
  instance: Instance;
  picks: number;
  inFlight: number;
  ejections: number;
}

/** Every service's counters. */
export class GatewayStats {
  readonly #services = new Map<string, Map<string, Counters>>();
  readonly #detector: OutlierDetector | undefined;
  readonly #events: Subscription | undefined;

  constructor(detector: OutlierDetector | undefined) {
    this.#detector = detector;
    this.#events = detector?.events$.subscribe((e) => {
      if (e.type === 'ejected') this.#counters(e.instance).ejections++;
    });
  }

  /** The counters of one instance, or undefined before its first request or ejection. */
  stats(service: string, id: string): InstanceStats | undefined {
    const c = this.#services.get(service)?.get(id);
    if (c === undefined) return undefined;
    return {
      picks: c.picks,
      inFlight: c.inFlight,
      ejected: this.#detector?.isEjected(c.instance) ?? false,
      ejections: c.ejections,
    };
  }

  /** How many instances have counters (for tests and monitoring). */
  get tracked(): number {
    let n = 0;
    for (const s of this.#services.values()) n += s.size;
    return n;
  }

  /**
   * Wraps a service's balancer pipeline: `instances$` (the registry's set)
   * prunes the counters, each balancer counts the calls it starts and ends.
   */
  counting(
    service: string,
    balancer: (instances$: Observable<InstanceSet>) => Observable<Balancer>,
  ): (instances$: Observable<InstanceSet>) => Observable<Balancer> {
    return (instances$) =>
      balancer(instances$.pipe(tap((set) => this.#prune(service, set)))).pipe(this.#wrap());
  }

  /** Drops a service's counters (it left the registry). */
  forget(service: string): void {
    this.#services.delete(service);
  }

  /** Stops listening to the detector. */
  close(): void {
    this.#events?.unsubscribe();
    this.#services.clear();
  }

  #counters(instance: Instance): Counters {
    let s = this.#services.get(instance.service);
    if (s === undefined) {
      s = new Map();
      this.#services.set(instance.service, s);
    }
    let c = s.get(instance.id);
    if (c === undefined) {
      c = { instance, picks: 0, inFlight: 0, ejections: 0 };
      s.set(instance.id, c);
    }
    return c;
  }

  #prune(service: string, set: InstanceSet): void {
    const s = this.#services.get(service);
    if (s === undefined) return;
    for (const id of s.keys()) if (set.get(id) === undefined) s.delete(id);
    if (s.size === 0) this.#services.delete(service);
  }

  #wrap(): OperatorFunction<Balancer, Balancer> {
    const started = (instance: Instance): void => {
      const c = this.#counters(instance);
      c.instance = instance;
      c.picks++;
      c.inFlight++;
    };
    const finished = (instance: Instance): void => {
      const c = this.#services.get(instance.service)?.get(instance.id);
      if (c !== undefined && c.inFlight > 0) c.inFlight--;
    };
    return map(
      (b): Balancer => ({
        set: b.set,
        size: b.size,
        pick: (key) => b.pick(key),
        started: (instance) => {
          started(instance);
          b.started(instance);
        },
        finished: (instance, outcome: Outcome) => {
          finished(instance);
          b.finished(instance, outcome);
        },
        ...(b.explain === undefined ? {} : { explain: () => b.explain!() }),
      }),
    );
  }
}

/**
 * What the gateway's status page reads: the registry-wide view and the
 * gateway's live counters per instance. The gateway implements it; the
 * status page (`status.ts`) only reads it.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { Catalog } from '../core/catalog.js';

/** The gateway's state, as the status page reads it. */
export interface StatusSource {
  /** The registry, as a redacted URL. */
  readonly registry: string;
  /** The registry-wide view the gateway routes from. */
  readonly catalog$: Observable<Catalog>;
  /** Live counters of one instance as the gateway keeps them, or undefined before its first request. */
  stats(service: string, instanceId: string): InstanceStats | undefined;
}

/** The gateway's live counters of one instance. */
export interface InstanceStats {
  /** Requests sent to the instance so far. */
  readonly picks: number;
  /** Requests to the instance not finished yet. */
  readonly inFlight: number;
  /** True while outlier ejection keeps the instance out of the balancer. */
  readonly ejected: boolean;
  /** How many times the instance was ejected so far. */
  readonly ejections: number;
}

/**
 * The status page's model: what `/-/status.json` returns and what the
 * server-sent events carry, built from a {@link Catalog} and the gateway's
 * counters. Plain JSON values; registry-provided strings are carried as they
 * are (the page escapes them).
 *
 * @module
 */
import type { Catalog } from '../core/catalog.js';
import type { InstanceStatus } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import { formatHostPort } from '../core/url.js';
import type { InstanceStats, StatusSource } from './status-source.js';

/** The counters of one instance as the page shows them: `[picks, inFlight, ejected, ejections]`. */
export type StatsTuple = readonly [
  picks: number,
  inFlight: number,
  ejected: boolean,
  ejections: number,
];

/** One instance on the status page. */
export interface StatusInstance {
  /** The instance's id in its service. */
  readonly id: string;
  /** `host:port` (`[v6]:port`). */
  readonly address: string;
  /** True when it is reached over TLS. */
  readonly secure: boolean;
  /** `UP`, `DOWN`, `STARTING`, `OUT_OF_SERVICE` or `UNKNOWN`. */
  readonly status: InstanceStatus;
  /** Its zone, or null. */
  readonly zone: string | null;
  /** Requests the gateway sent to it so far. */
  readonly picks: number;
  /** Requests to it not finished yet. */
  readonly inFlight: number;
  /** True while outlier ejection keeps it out. */
  readonly ejected: boolean;
  /** Times it was ejected so far. */
  readonly ejections: number;
}

/** Fresh or stale, and since when (epoch ms) and why. */
export interface StatusStaleness {
  /** True while the registry is unreachable and the last known state is shown. */
  readonly stale: boolean;
  /** Epoch milliseconds since when the registry is unreachable; null while fresh. */
  readonly staleSince: number | null;
  /** The fault's message; null while fresh. */
  readonly error: string | null;
}

/** One service on the status page. */
export interface StatusService extends StatusStaleness {
  /** The service name. */
  readonly name: string;
  /** Sorted by id. */
  readonly instances: readonly StatusInstance[];
}

/** The whole page: the registry's staleness and every service, sorted by name. */
export interface StatusState extends StatusStaleness {
  /** The registry, as a redacted URL. */
  readonly registry: string;
  /** Every service with at least one instance. */
  readonly services: readonly StatusService[];
}

const NO_STATS: StatsTuple = Object.freeze([0, 0, false, 0] as const);

/** The counters of an instance, zeros before its first request (or when `stats` throws). */
export const readStats = (source: StatusSource, service: string, id: string): StatsTuple => {
  let s: InstanceStats | undefined;
  try {
    s = source.stats(service, id);
  } catch {
    return NO_STATS;
  }
  return s === undefined ? NO_STATS : [s.picks, s.inFlight, s.ejected, s.ejections];
};

/** True when two tuples hold the same counters. */
export const sameStats = (a: StatsTuple, b: StatsTuple): boolean =>
  a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];

const staleness = (x: Catalog | InstanceSet): StatusStaleness => ({
  stale: x.stale,
  staleSince: x.staleSince ?? null,
  error: x.error?.message ?? null,
});

/**
 * One service's entry; `statsOf` gives each instance's counters (and may
 * record them).
 */
export const serviceState = (
  name: string,
  set: InstanceSet,
  statsOf: (id: string) => StatsTuple,
): StatusService => ({
  name,
  ...staleness(set),
  instances: set.instances.map((i) => {
    const [picks, inFlight, ejected, ejections] = statsOf(i.id);
    return {
      id: i.id,
      address: formatHostPort(i.host, i.port),
      secure: i.secure,
      status: i.status,
      zone: i.zone ?? null,
      picks,
      inFlight,
      ejected,
      ejections,
    };
  }),
});

/** The whole state of `catalog` of `registry`, with each instance's counters from `statsOf`. */
export const statusState = (
  registry: string,
  catalog: Catalog,
  statsOf: (service: string, id: string) => StatsTuple,
): StatusState => {
  const services: StatusService[] = [];
  for (const [name, set] of catalog.entries()) {
    services.push(serviceState(name, set, (id) => statsOf(name, id)));
  }
  return { registry, ...staleness(catalog), services };
};

/** The catalog-level staleness alone (for the `catalog` event). */
export const catalogStaleness = (catalog: Catalog): StatusStaleness => staleness(catalog);

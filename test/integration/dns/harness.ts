/**
 * The DNS side of the tests: a Knot server serving the root zone (the
 * conformance suite's service names are single labels), and a harness that
 * writes each service as SRV records `<service>. SRV 0 1 <port> <id>.<service>.`
 * with the target's A record, rewriting the zone and reloading it.
 */

import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { discovery } from '../../../src/discovery.js';
import type { Harness } from '../../conformance/suite.js';
import { type KnotServer, startKnot } from '../../servers/dns.js';

interface Entry {
  readonly host: string;
  readonly port: number;
  /** Written so that it cannot decode (SRV port 0). */
  readonly malformed?: boolean;
}

/** Short TTL bounds and backoff, for tests. */
export const testUrl = (server: KnotServer, scheme = 'dns+srv'): string =>
  `${scheme}://${server.address}/?minTtl=50ms&maxTtl=200ms&timeout=500ms`;

/** A DNS discovery of `server` for tests. */
export const testDiscovery = (server: KnotServer, scheme = 'dns+srv'): Discovery =>
  discovery(testUrl(server, scheme), {
    graceMs: 20,
    backoff: exponentialBackoff({ initialMs: 20, maxMs: 200 }),
    onProblem: () => undefined,
  });

/** The records of the services in `zone`. */
const render = (zone: ReadonlyMap<string, ReadonlyMap<string, Entry>>): string[] =>
  [...zone].flatMap(([service, entries]) =>
    [...entries].flatMap(([id, e]) => [
      `${service}. 1 IN SRV 0 1 ${e.malformed ? 0 : e.port} ${id}.${service}.`,
      `${id}.${service}. 1 IN A ${e.host}`,
    ]),
  );

/** The conformance harness over `server` (which it rewrites). */
export const dnsHarness = (server: KnotServer): Harness => {
  const zone = new Map<string, Map<string, Entry>>();
  const entries = (service: string): Map<string, Entry> => {
    const known = zone.get(service);
    if (known !== undefined) return known;
    const m = new Map<string, Entry>();
    zone.set(service, m);
    return m;
  };
  const publish = (): Promise<void> => server.setZone(render(zone));
  return {
    discovery: () => testDiscovery(server),
    writeRaw: async (r) => {
      entries(r.service).set(r.id, { host: r.host, port: r.port });
      await publish();
    },
    deleteRaw: async (service, id) => {
      entries(service).delete(id);
      await publish();
    },
    writeMalformed: async (service, id) => {
      entries(service).set(id, { host: '127.0.0.1', port: 1, malformed: true });
      await publish();
    },
    dropRegistrations: async () => {
      throw new Error('DNS is read-only: nothing to drop');
    },
    outage: () => server.stop(),
    recover: () => server.start(),
    idOf: (i) => (i.metadata.target ?? i.id).split('.')[0]!,
    ttlMs: 1000,
    patience: 5000,
  };
};

/** Starts Knot serving the root zone, empty. */
export const startRootServer = (): Promise<KnotServer> => startKnot([], '.');

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Observable } from 'rxjs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type {
  Balancer,
  Discovery,
  Instance,
  InstanceSet,
  LiveBalancer,
  RegistrationEvent,
  ServiceList,
} from '../../src/index.js';
import * as rxdisco from '../../src/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Every module `entry` loads statically (dynamic import() not followed). */
const staticGraph = (entry: string): { files: Set<string>; packages: Set<string> } => {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /^\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm,
    )) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else
        packages.add(
          spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!,
        );
    }
  };
  visit(entry);
  return { files, packages };
};

describe('the rxdisco entry point', () => {
  it('loads no registry client statically (etcd3, gRPC, HTTP clients load on first use)', () => {
    // the built package, as users load it (npm test builds before it tests)
    const { files, packages } = staticGraph(resolve(root, 'dist/index.js'));
    expect([...packages].sort()).toEqual(['fp-ts', 'io-ts', 'rxjs']);
    for (const f of files) expect(f).not.toMatch(/backends\/(etcd|consul|eureka)\//);
  });

  it('exports the documented surface, each export defined', () => {
    const exported = new Map<string, unknown>(Object.entries(rxdisco));
    for (const name of [
      'discovery',
      'roundRobin',
      'random',
      'weightedRoundRobin',
      'leastRequest',
      'live',
      'healthy',
      'withTags',
      'preferZone',
      'diff',
      'shutdownSignal',
      'memoryDiscovery',
      'staticDiscovery',
      'createInstance',
      'exponentialBackoff',
      'ConfigError',
      'DecodeError',
      'RegistryUnavailableError',
      'AuthenticationError',
      'RegistrationLostError',
      'NoInstanceError',
    ]) {
      expect(exported.get(name), name).toBeDefined();
    }
  });

  it('has types that guide', () => {
    expectTypeOf(rxdisco.discovery).returns.toEqualTypeOf<Discovery>();
    expectTypeOf<Discovery['instances$']>().returns.toEqualTypeOf<Observable<InstanceSet>>();
    expectTypeOf<Discovery['services$']>().returns.toEqualTypeOf<Observable<ServiceList>>();
    expectTypeOf<Discovery['register']>().returns.toEqualTypeOf<Observable<RegistrationEvent>>();
    expectTypeOf(rxdisco.live).returns.toEqualTypeOf<LiveBalancer>();
    expectTypeOf<LiveBalancer['pick']>().returns.toEqualTypeOf<Instance | undefined>();
    expectTypeOf<LiveBalancer['pickAsync']>().returns.toEqualTypeOf<Promise<Instance>>();
    expectTypeOf<Balancer['pick']>().parameters.toEqualTypeOf<[key?: string]>();
    // staleness details exist only on stale sets
    expectTypeOf<
      Extract<InstanceSet, { stale: true }>['error']
    >().toEqualTypeOf<rxdisco.RxdiscoError>();
    expectTypeOf<Extract<InstanceSet, { stale: false }>['error']>().toEqualTypeOf<undefined>();
    expectTypeOf<Instance['status']>().toEqualTypeOf<
      'UP' | 'DOWN' | 'STARTING' | 'OUT_OF_SERVICE' | 'UNKNOWN'
    >();
    expectTypeOf<RegistrationEvent['type']>().toEqualTypeOf<
      | 'registered'
      | 'renewed'
      | 'renewFailed'
      | 'lost'
      | 'reregistered'
      | 'retrying'
      | 'deregistered'
    >();
  });
});

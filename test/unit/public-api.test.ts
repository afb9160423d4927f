import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Observable } from 'rxjs';
import ts from 'typescript';
import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import * as backend from '../../src/backend.js';
import { toRxdiscoError } from '../../src/core/errors.js';
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

/** The names (values and types) each source file exports, as the compiler sees them. */
const exportedNames = (...entries: string[]): Map<string, Set<string>> => {
  const files = entries.map((e) => resolve(root, e));
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  return new Map(
    entries.map((entry, i) => {
      const module = checker.getSymbolAtLocation(program.getSourceFile(files[i]!)!)!;
      return [entry, new Set(checker.getExportsOfModule(module).map((s) => s.name))];
    }),
  );
};

/** What a backend author needs and an application does not. */
const SPI = [
  'Backend',
  'createDiscovery',
  'WatchSource',
  'SourceEvent',
  'ServiceListEvent',
  'Registrar',
  'parseRegistryUrl',
  'RegistryConfig',
  'decode',
  'decodeJson',
  'decodeInstance',
  'decodeKeyedInstance',
  'toRecord',
  'withWatchParams',
];

describe('the rxdisco entry point', () => {
  it.each(['dist/index.js', 'dist/backend.js'])(
    '%s loads no registry client statically (etcd3, gRPC, HTTP clients load on first use)',
    (entry) => {
      // the built package, as users load it (npm test builds before it tests)
      const { files, packages } = staticGraph(resolve(root, entry));
      // Node's own modules are not clients (core/metrics.ts takes createRequire from
      // node:module, to load @opentelemetry/api on first use when it is installed)
      const thirdParty = [...packages].filter((p) => !p.startsWith('node:'));
      expect(thirdParty.sort()).toEqual(['fp-ts', 'io-ts', 'rxjs']);
      // a backend's light URL grammar (url.js) is fine: no client behind it;
      // so is Eureka's per-discovery handle (type imports only), and the DNS
      // discovery wrapper (watch-param checks and the read-only register)
      for (const f of files) {
        expect(f).not.toMatch(
          /backends\/(etcd|consul|eureka|dns|zookeeper|kubernetes)\/(?!url\.js$|handle\.js$|dns-discovery\.js$)/,
        );
      }
    },
  );

  it("keeps the backend SPI out of 'rxdisco' and in 'rxdisco/backend'", () => {
    const names = exportedNames('src/index.ts', 'src/backend.ts');
    const app = names.get('src/index.ts')!;
    const spi = names.get('src/backend.ts')!;
    expect(SPI.filter((n) => app.has(n))).toEqual([]);
    expect(SPI.filter((n) => !spi.has(n))).toEqual([]);
    // what both an app and a backend author name
    for (const n of ['Discovery', 'DiscoveryOptions', 'WatchParams', 'ServiceList']) {
      expect(app.has(n) && spi.has(n), n).toBe(true);
    }
    // the runtime view agrees
    expect('createDiscovery' in rxdisco).toBe(false);
    expect('parseRegistryUrl' in rxdisco).toBe(false);
    expect(backend.createDiscovery).toBeTypeOf('function');
    expect(backend.parseRegistryUrl).toBeTypeOf('function');
  }, 30_000); // a compiler program over src/

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

describe('the error guards', () => {
  it('recognise the errors of another copy of rxdisco (a brand, not instanceof)', async () => {
    vi.resetModules();
    const copy = await import('../../src/core/errors.js');
    expect(copy.ConfigError).not.toBe(rxdisco.ConfigError); // a second copy of the module
    const made = {
      RxdiscoError: new copy.RxdiscoError('boom', true),
      ConfigError: new copy.ConfigError('port', 'must be a port', 'write 8080'),
      DecodeError: new copy.DecodeError('k', ['port: expected Port, got 0']),
      RegistryUnavailableError: new copy.RegistryUnavailableError('connection refused'),
      AuthenticationError: new copy.AuthenticationError('bad token'),
      RegistrationLostError: new copy.RegistrationLostError('a', 'lease expired'),
      NoInstanceError: new copy.NoInstanceError('empty set'),
    };
    const guards = {
      ConfigError: rxdisco.isConfigError,
      DecodeError: rxdisco.isDecodeError,
      RegistryUnavailableError: rxdisco.isRegistryUnavailableError,
      AuthenticationError: rxdisco.isAuthenticationError,
      RegistrationLostError: rxdisco.isRegistrationLostError,
      NoInstanceError: rxdisco.isNoInstanceError,
    };
    expect(made.ConfigError instanceof rxdisco.ConfigError).toBe(false);
    for (const [kind, e] of Object.entries(made)) {
      expect(rxdisco.isRxdiscoError(e), kind).toBe(true);
      for (const [guarded, guard] of Object.entries(guards)) {
        expect(guard(e), `${guarded} guard on a ${kind}`).toBe(guarded === kind);
      }
    }
    // and the core takes them as they are (retryable flag kept), not as unknown faults
    expect(toRxdiscoError(made.ConfigError)).toBe(made.ConfigError);
  });

  it('are not fooled by a name, and pass the errors of this copy', () => {
    const lookalike = Object.assign(new Error('x'), { name: 'ConfigError', retryable: false });
    expect(rxdisco.isConfigError(lookalike)).toBe(false);
    expect(rxdisco.isRxdiscoError(lookalike)).toBe(false);
    for (const v of [undefined, null, 'ConfigError', 42])
      expect(rxdisco.isRxdiscoError(v)).toBe(false);
    const own = new rxdisco.ConfigError('port', 'must be a port', 'write 8080');
    expect(rxdisco.isConfigError(own) && rxdisco.isRxdiscoError(own)).toBe(true);
    // the brand is on the prototype: an error's own keys stay as they were
    expect(Object.getOwnPropertySymbols(own)).toEqual([]);
  });
});

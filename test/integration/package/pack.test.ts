/**
 * The package as users get it: `npm pack` of the built tree, installed from
 * the tarball into a scratch project outside the repo (in os.tmpdir()), then
 * loaded there with `import` and `require` and type-checked by a consumer
 * under `moduleResolution` `nodenext` and `bundler`. Needs the build
 * (`npm test` builds first); npm installs with `--prefer-offline` (the
 * packages come from the npm cache when they are in it).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
};
const SUBPATHS = Object.keys(manifest.exports)
  .filter((k) => k !== './package.json')
  .map((k) => (k === '.' ? 'rxdisco' : `rxdisco/${k.slice(2)}`));
/** A value each entry point must export. */
const PROBE: Record<string, string> = {
  rxdisco: 'discovery',
  'rxdisco/backend': 'createDiscovery',
  'rxdisco/etcd': 'etcdDiscovery',
  'rxdisco/consul': 'consulDiscovery',
  'rxdisco/eureka': 'eurekaDiscovery',
  'rxdisco/ky': 'kyFor',
  'rxdisco/undici': 'discoveryDispatcher',
  'rxdisco/grpc': 'registerRxdiscoResolver',
  'rxdisco/dns': 'dnsDiscovery',
  'rxdisco/zookeeper': 'zookeeperDiscovery',
  'rxdisco/kubernetes': 'kubernetesDiscovery',
  'rxdisco/gateway': 'gateway',
};
/** The entry points that need an optional peer dependency, and which. */
const NEEDS = {
  'rxdisco/etcd': 'etcd3',
  'rxdisco/ky': 'ky',
  'rxdisco/undici': 'undici',
  'rxdisco/grpc': '@grpc/grpc-js',
  'rxdisco/gateway': 'undici',
} as const;
const PATIENCE = 120_000;

/** The environment of a plain shell: none of the npm_* settings of an `npm test` run. */
const env = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !/^npm_/i.test(k) && k !== 'NODE_OPTIONS' && !k.startsWith('VITEST'),
  ),
);

const exec = async (cmd: string, args: readonly string[], cwd: string): Promise<string> => {
  try {
    const { stdout } = await promisify(execFile)(cmd, args, {
      cwd,
      env,
      maxBuffer: 64 * 1024 * 1024,
      timeout: PATIENCE,
    });
    return stdout;
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
};
const npm = (args: readonly string[], cwd: string) =>
  exec('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], cwd);
const versionIn = (pkg: string): string =>
  (
    JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

/** Loads the subpaths given as JSON in argv[2] and prints, for each, `ok` or why not. */
const LOADER = `
const subpaths = JSON.parse(process.argv[2]);
const probes = ${JSON.stringify(PROBE)};
const check = (s, m) => (typeof m[probes[s]] === 'function' ? 'ok' : 'no ' + probes[s]);
const failure = (e) => (e.code ?? e.name) + ': ' + e.message.split('\\n')[0];
`;
const LOAD_ESM = `${LOADER}
const imported = {};
for (const s of subpaths) imported[s] = await import(s).then((m) => check(s, m), failure);
console.log(JSON.stringify(imported));
`;
const LOAD_CJS = `${LOADER}
const required = {};
for (const s of subpaths) {
  try {
    required[s] = check(s, require(s));
  } catch (e) {
    required[s] = failure(e);
  }
}
// require(esm) and import() give the same module instance: no dual-package hazard
Promise.all(subpaths.map((s) => import(s).catch(() => undefined))).then((ns) => {
  const same = subpaths.every((s, i) => required[s] !== 'ok' || ns[i] === require(s));
  console.log(JSON.stringify({ required, same }));
});
`;
/** discovery('etcd://...') (or the URL in argv[2]) without its peer installed: what its stream errors with. */
const MISSING_PEER = `
import { discovery, isConfigError } from 'rxdisco';
const url = process.argv[2] ?? 'etcd://127.0.0.1:2379/services/';
const registry = discovery(url, { onProblem: () => undefined });
registry.instances$('hello').subscribe({
  error: (e) => {
    const { retryable, field, message } = e;
    console.log(JSON.stringify({ config: isConfigError(e), retryable, field, message }));
    void registry.close();
  },
});
`;
/** Runs a loader script in the scratch project with the subpaths; parses what it printed. */
const load = async (script: 'load.mjs' | 'load.cjs'): Promise<unknown> =>
  JSON.parse(await exec(process.execPath, [script, JSON.stringify(SUBPATHS)], app));

/** Uses every entry point the way an app and a backend author would. */
const CONSUMER = `
import { type Observable, of } from 'rxjs';
import {
  discovery,
  healthy,
  type Instance,
  type InstanceSet,
  isConfigError,
  live,
  roundRobin,
} from 'rxdisco';
import { type Backend, createDiscovery, type SourceEvent, type WatchSource } from 'rxdisco/backend';
import { consulDiscovery } from 'rxdisco/consul';
import { etcdDiscovery } from 'rxdisco/etcd';
import { eurekaDiscovery } from 'rxdisco/eureka';
import { kyFor } from 'rxdisco/ky';

const registry = discovery('memory://');
const hello$: Observable<InstanceSet> = registry.instances$('hello');
const hello = live(hello$.pipe(healthy(), roundRobin()));
export const picked: Instance | undefined = hello.pick();
export const bad = (e: unknown): boolean => isConfigError(e) && e.field.length > 0;

const source: WatchSource = () => of<SourceEvent>({ type: 'snapshot', instances: [] });
const backend: Backend = {
  instances: () => source,
  services: () => () => of({ names: [] }),
  registrar: undefined,
  close: async () => undefined,
};
export const mine = createDiscovery('my://registry', async () => backend);
export const all = [
  etcdDiscovery('etcd://127.0.0.1:2379/services/'),
  consulDiscovery('consul://127.0.0.1:8500'),
  eurekaDiscovery('eureka://127.0.0.1:8761/eureka'),
];
export const api = kyFor(hello);
`;
/** A CommonJS consumer: require() of the ESM package (TypeScript >= 5.8, Node >= 20.19). */
const CONSUMER_CJS = `
import rxdisco = require('rxdisco');
import backend = require('rxdisco/backend');
export const registry: rxdisco.Discovery = rxdisco.discovery('memory://');
export const create: typeof backend.createDiscovery = backend.createDiscovery;
`;
const tsconfig = (options: Record<string, unknown>, files: string[]) =>
  JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2023', 'DOM'],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      types: ['node'],
      typeRoots: [join(root, 'node_modules/@types')],
      ...options,
    },
    files,
  });

let scratch: string;
let app: string;
let files: string[];

beforeAll(async () => {
  for (const file of [...Object.values(manifest.bin), 'dist/index.js', 'dist/backend.d.ts']) {
    if (!existsSync(join(root, file))) throw new Error(`${file} is missing: run npm run build`);
  }
  scratch = await mkdtemp(join(tmpdir(), 'rxdisco-pack-'));
  const [packed] = JSON.parse(
    await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], root),
  ) as [{ filename: string; files: { path: string }[] }];
  files = packed.files.map((f) => f.path);
  app = join(scratch, 'app');
  await mkdir(app);
  await writeFile(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  await writeFile(join(app, 'load.mjs'), LOAD_ESM);
  await writeFile(join(app, 'load.cjs'), LOAD_CJS);
  await writeFile(join(app, 'missing-peer.mjs'), MISSING_PEER);
  await npm(['install', join(scratch, packed.filename)], app);
}, PATIENCE);

afterAll(async () => {
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds the build and the docs, no tests and no sources', () => {
    const stray = files.filter(
      (f) => !(f.startsWith('dist/') || /^(package\.json|README\.md|LICENSE[^/]*)$/.test(f)),
    );
    expect(stray).toEqual([]);
    expect(files.filter((f) => /(^|\/)(test|tests|__tests__)\/|\.(test|spec)\./.test(f))).toEqual(
      [],
    );
    // every exports target and the bin are in it
    const targets = Object.values(manifest.exports).flatMap((t) =>
      typeof t === 'string' ? [t] : Object.values(t),
    );
    for (const t of [...targets, ...Object.values(manifest.bin)]) {
      expect(files, t).toContain(t.replace(/^\.\//, ''));
    }
  });

  it('ships LICENSE, and source maps that carry their sources (src/ is not shipped)', () => {
    expect(files).toContain('LICENSE');
    const dist = join(app, 'node_modules/rxdisco/dist');
    const maps = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.map'),
    );
    expect(maps.length).toBeGreaterThan(0);
    const withoutSources = maps.filter((f) => {
      const map = JSON.parse(readFileSync(join(dist, f), 'utf8')) as { sourcesContent?: unknown[] };
      return !Array.isArray(map.sourcesContent) || map.sourcesContent.some((c) => c == null);
    });
    expect(withoutSources).toEqual([]);
  });

  it('ships no @internal declaration (stripInternal)', () => {
    const dist = join(app, 'node_modules/rxdisco/dist');
    const internal = readdirSync(dist, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.d.ts'))
      .filter((f) => readFileSync(join(dist, f), 'utf8').includes('@internal'));
    expect(internal).toEqual([]);
  });

  it('loads without the optional peers: only the entry points listed in NEEDS need theirs', async () => {
    for (const peer of Object.values(NEEDS)) {
      expect(existsSync(join(app, 'node_modules', peer)), peer).toBe(false);
    }
    const expected = Object.fromEntries(
      SUBPATHS.map((s) => {
        const peer = NEEDS[s as keyof typeof NEEDS];
        return [s, peer === undefined ? 'ok' : expect.stringContaining(`'${peer}'`)];
      }),
    );
    expect(await load('load.mjs')).toEqual(expected);
    expect(await load('load.cjs')).toEqual({ required: expected, same: true });
  });

  it('turns a missing etcd3 into a ConfigError naming the package to install', async () => {
    expect(JSON.parse(await exec(process.execPath, ['missing-peer.mjs'], app))).toEqual({
      config: true,
      retryable: false,
      field: 'etcd3',
      message: expect.stringContaining('npm install etcd3'),
    });
  });

  it.each([
    ['dns-packet', 'dns+srv://127.0.0.1:1/'],
    ['node-zookeeper-client', 'zk://127.0.0.1:1/services'],
    ['@kubernetes/client-node', 'k8s://127.0.0.1:1?namespace=default'],
  ])('turns a missing %s into a ConfigError naming the package to install', async (pkg, url) => {
    const printed = await exec(process.execPath, ['missing-peer.mjs', url], app);
    expect(JSON.parse(printed)).toEqual({
      config: true,
      retryable: false,
      field: pkg,
      message: expect.stringContaining(`npm install ${pkg}`),
    });
  });

  describe('with the optional peers of NEEDS installed', () => {
    beforeAll(async () => {
      await npm(
        ['install', ...[...new Set(Object.values(NEEDS))].map((p) => `${p}@${versionIn(p)}`)],
        app,
      );
      await writeFile(join(app, 'consumer.ts'), CONSUMER);
      await writeFile(join(app, 'consumer-cjs.cts'), CONSUMER_CJS);
      await writeFile(
        join(app, 'tsconfig.nodenext.json'),
        tsconfig({ module: 'NodeNext', moduleResolution: 'NodeNext' }, [
          'consumer.ts',
          'consumer-cjs.cts',
        ]),
      );
      await writeFile(
        join(app, 'tsconfig.bundler.json'),
        tsconfig({ module: 'ESNext', moduleResolution: 'Bundler' }, ['consumer.ts']),
      );
    }, PATIENCE);

    it('imports and requires every subpath, one module instance for both', async () => {
      const ok = Object.fromEntries(SUBPATHS.map((s) => [s, 'ok']));
      expect(await load('load.mjs')).toEqual(ok);
      expect(await load('load.cjs')).toEqual({ required: ok, same: true });
    });

    it.each(['nodenext', 'bundler'])(
      'type-checks a consumer under moduleResolution %s',
      async (resolution) => {
        await exec(join(root, 'node_modules/.bin/tsc'), ['-p', `tsconfig.${resolution}.json`], app);
      },
      PATIENCE,
    );
  });
});

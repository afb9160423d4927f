/**
 * Launchers for the Eureka test fixtures: our Spring Cloud Netflix Eureka
 * server (`test/servers/eureka/`) and the Java interop client
 * (`test/interop/eureka-client/`). Each is built with Maven into
 * `.cache/eureka/` (git-ignored) once per version of its sources: the jar
 * name carries a hash of pom.xml and src/, so a change rebuilds it and an
 * unchanged project is reused at once.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type Managed, startProcess, until } from './process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.cache', 'eureka');

interface Project {
  readonly name: string;
  readonly dir: string;
  /** Where Maven puts the jar (the pom's build directory). */
  readonly built: string;
}

const SERVER: Project = {
  name: 'rxdisco-eureka-server',
  dir: join(ROOT, 'test', 'servers', 'eureka'),
  built: join(CACHE, 'server-build', 'rxdisco-eureka-server.jar'),
};
const CLIENT: Project = {
  name: 'rxdisco-eureka-client',
  dir: join(ROOT, 'test', 'interop', 'eureka-client'),
  built: join(CACHE, 'client-build', 'rxdisco-eureka-client.jar'),
};

const files = (dir: string): string[] =>
  readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? files(p) : [p];
    });

/** A hash of the project's pom.xml and src/ (names and contents). */
const sourceHash = (p: Project): string => {
  const h = createHash('sha256');
  for (const f of [join(p.dir, 'pom.xml'), ...files(join(p.dir, 'src'))]) {
    h.update(relative(p.dir, f));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
};

const run = (cmd: string, args: string[], cwd: string): Promise<void> =>
  new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error)
        reject(new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`));
      else resolve();
    });
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const building = new Map<string, Promise<string>>();

/** Builds `p` unless the jar for its current sources is cached; returns the jar path. */
const ensureJar = (p: Project): Promise<string> => {
  const jar = join(CACHE, `${p.name}-${sourceHash(p)}.jar`);
  let pending = building.get(jar);
  if (pending === undefined) {
    pending = (async () => {
      if (existsSync(jar)) return jar;
      mkdirSync(CACHE, { recursive: true });
      // One build at a time across processes (test files run in parallel forks).
      const lock = join(CACHE, `${p.name}.lock`);
      const deadline = Date.now() + 15 * 60_000;
      for (;;) {
        try {
          mkdirSync(lock);
          break;
        } catch {
          if (existsSync(jar)) return jar;
          // A lock older than 15 minutes belongs to a build that died.
          if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 15 * 60_000)
            rmSync(lock, { recursive: true, force: true });
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
          await sleep(500);
        }
      }
      try {
        if (existsSync(jar)) return jar;
        await run('mvn', ['-q', '-B', 'package', '-DskipTests'], p.dir);
        copyFileSync(p.built, `${jar}.tmp`);
        // rename is atomic: readers see the whole jar or none
        renameSync(`${jar}.tmp`, jar);
        // older builds of the same project are of no use any more
        for (const f of readdirSync(CACHE))
          if (f.startsWith(`${p.name}-`) && f.endsWith('.jar') && join(CACHE, f) !== jar)
            rmSync(join(CACHE, f), { force: true });
        return jar;
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
    })();
    building.set(jar, pending);
  }
  return pending;
};

/** The Eureka server jar, built if its sources changed. Idempotent. */
export const ensureEurekaServer = (): Promise<string> => ensureJar(SERVER);

/** The Java interop client jar, built if its sources changed. Idempotent. */
export const ensureEurekaClient = (): Promise<string> => ensureJar(CLIENT);

/** JVM flags that make a Spring Boot test fixture start faster on 2 cores. */
const JVM = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xss512k', '-Xmx256m'];

/** Options of {@link startEureka}. */
export interface EurekaServerOptions {
  /** The port; a free one by default. Kept across restarts. */
  readonly port?: number;
  /**
   * Milliseconds after a start during which the server refuses reads (403)
   * while accepting registrations, as a real Eureka server that found no
   * peer to copy from does. 0 serves reads at once.
   * @default 0
   */
  readonly warmupMs?: number;
  /** TLS: PEM certificate and key files; the server then speaks https only. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Do not start now: the test calls `start()` (a registry that is down when clients start). */
  readonly deferStart?: boolean;
  /** More `--name=value` Spring properties. */
  readonly properties?: Readonly<Record<string, string | number | boolean>>;
}

/** A running (or stopped) Eureka server. */
export interface EurekaServer {
  readonly port: number;
  /** `eureka://127.0.0.1:port/eureka` (`eurekas://` with TLS). */
  readonly url: string;
  /** `http://127.0.0.1:port/eureka` (https with TLS): the REST base. */
  readonly base: string;
  readonly running: boolean;
  /** The last lines the server printed. */
  output(): string;
  /** Stops the process (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty registry) and waits until it answers. */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
}

/** Starts our Eureka server on 127.0.0.1 and waits until it answers `GET /eureka/apps`. */
export const startEureka = async (options: EurekaServerOptions = {}): Promise<EurekaServer> => {
  const jar = await ensureEurekaServer();
  const port = options.port ?? (await freePort());
  const scheme = options.tls ? 'https' : 'http';
  const base = `${scheme}://127.0.0.1:${port}/eureka`;
  const props: Record<string, string | number | boolean> = {
    'server.port': port,
    'eureka.server.wait-time-in-ms-when-sync-empty': options.warmupMs ?? 0,
    // Spring Cloud opens a standalone server as if a peer had sent one
    // instance, which skips the warm-up; 0 keeps Eureka's own behaviour.
    'eureka.instance.registry.default-open-for-traffic-count': options.warmupMs ? 0 : 1,
    ...(options.tls
      ? {
          'server.ssl.enabled': true,
          'server.ssl.certificate': options.tls.cert,
          'server.ssl.certificate-private-key': options.tls.key,
        }
      : {}),
    ...options.properties,
  };
  const args = [...JVM, '-jar', jar, ...Object.entries(props).map(([k, v]) => `--${k}=${v}`)];
  let proc: Managed | undefined;

  const answers = async (): Promise<boolean> => {
    if (proc?.exited) throw new Error(`the Eureka server exited:\n${proc.output()}`);
    const res = await rawRequest('GET', `${base}/apps`).catch(() => undefined);
    // 403: warming up; 401: up, behind basic auth
    return res?.status === 200 || res?.status === 401 || res?.status === 403;
  };

  const start = async (): Promise<void> => {
    if (proc !== undefined && !proc.exited) return;
    proc = startProcess('java', args, { cwd: CACHE });
    live.add(stop);
    try {
      await until(answers, 90_000, `the Eureka server on port ${port}`);
    } catch (e) {
      const out = proc.output();
      await stop();
      throw new Error(`${(e as Error).message}\n${out}`);
    }
  };
  const stop = async (): Promise<void> => {
    live.delete(stop);
    await proc?.stop(5000);
  };
  if (!options.deferStart) await start();
  return {
    port,
    url: `${options.tls ? 'eurekas' : 'eureka'}://127.0.0.1:${port}/eureka`,
    base,
    get running() {
      return proc !== undefined && !proc.exited;
    },
    output: () => proc?.output() ?? '',
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
  };
};

/** A running Java Eureka client. */
export interface EurekaJavaClient {
  /** Its HTTP port (it registers with it). */
  readonly port: number;
  /** Its instance id. */
  readonly instanceId: string;
  /** What its DiscoveryClient sees of `service` (`GET /seen/{service}`). */
  seen(service: string): Promise<
    {
      instanceId: string;
      host: string;
      port: number;
      secure: boolean;
      metadata: Record<string, string>;
    }[]
  >;
  output(): string;
  stop(): Promise<void>;
}

/** Starts the Spring Cloud Netflix client app registered as `name` with `server` (REST base). */
export const startEurekaJavaClient = async (
  server: string,
  name: string,
  metadata: Readonly<Record<string, string>> = {},
): Promise<EurekaJavaClient> => {
  const jar = await ensureEurekaClient();
  const port = await freePort();
  const instanceId = `${name}-java-${port}`;
  const args = [
    ...JVM,
    '-jar',
    jar,
    `--server.port=${port}`,
    `--spring.application.name=${name}`,
    `--eureka.client.service-url.defaultZone=${server}/`,
    `--eureka.instance.instance-id=${instanceId}`,
    ...Object.entries(metadata).map(([k, v]) => `--eureka.instance.metadata-map.${k}=${v}`),
  ];
  const proc = startProcess('java', args, { cwd: CACHE });
  const stop = (): Promise<void> => {
    live.delete(stop);
    return proc.stop(8000);
  };
  live.add(stop);
  const seen = async (service: string) => {
    const res = await rawRequest('GET', `http://127.0.0.1:${port}/seen/${service}`);
    if (res.status !== 200) throw new Error(`GET /seen/${service} answered ${res.status}`);
    return JSON.parse(res.text) as Awaited<ReturnType<EurekaJavaClient['seen']>>;
  };
  try {
    await until(
      async () => {
        if (proc.exited) throw new Error(`the Java client exited:\n${proc.output()}`);
        await seen('none');
        return true;
      },
      90_000,
      `the Java Eureka client on port ${port}`,
    );
  } catch (e) {
    const out = proc.output();
    await stop();
    throw new Error(`${(e as Error).message}\n${out}`);
  }
  return { port, instanceId, seen, output: () => proc.output(), stop };
};

/**
 * One HTTP request on a fresh connection that is closed after (no socket
 * outlives it), as tests use to act behind rxdisco's back.
 */
export const rawRequest = async (
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; text: string }> => {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: false,
        rejectUnauthorized: false,
        headers: {
          accept: 'application/json',
          connection: 'close',
          ...(data === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': String(data.length) }),
        },
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
};

/** Stops whatever a test forgot, when the test process exits. */
const live = new Set<() => Promise<void>>();
process.once('beforeExit', () => {
  for (const stop of live) void stop();
});

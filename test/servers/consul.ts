/**
 * Launches real Consul agents for tests: a `-dev` agent, a persistent
 * single server, or a cluster of servers, on 127.0.0.1 with random free
 * ports (http, serf lan/wan, server RPC, DNS; gRPC disabled) and
 * temporary data directories.
 *
 * Consul is not packaged by Debian here: {@link ensureConsul} builds the
 * pinned release from the Go module proxy into `.cache/` (git-ignored) once;
 * later runs reuse the binary. `CONSUL_BINARY=/path/to/consul` skips the build.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type Managed, startProcess, until } from './process.js';

/** The Consul release built and used by the tests. */
export const CONSUL_VERSION = 'v1.22.0';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.cache');
const LOCKS = join(CACHE, 'consul-build');
const BINARY = join(CACHE, `consul-${CONSUL_VERSION}`);

/**
 * The module that builds Consul: its go.mod requires the release and its
 * go.sum pins every module's checksum, so the build is reproducible and
 * verified without the checksum database (whose lookups for Consul's nested
 * modules answer 404 through this workplace's module proxy).
 */
const MODULE_DIR = join(ROOT, 'test', 'servers', 'consul-build');

const run = (cmd: string, args: readonly string[], cwd: string): Promise<void> =>
  new Promise((resolve, reject) => {
    console.log(`[consul] ${cmd} ${args.join(' ')}   (in ${cwd})`);
    const child = spawn(cmd, args, {
      cwd,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, GOFLAGS: '-buildvcs=false -mod=readonly', GOWORK: 'off' },
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`)),
    );
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let ensured: Promise<string> | undefined;

/**
 * The path of the Consul binary: `$CONSUL_BINARY`, else the cached build
 * `.cache/consul-v1.22.0`, built first when missing (3-5 minutes on 2 cores;
 * needs `go` on PATH and the Go module proxy). Idempotent; concurrent
 * callers (several processes) wait for one build through a lock directory.
 */
export const ensureConsul = (): Promise<string> => {
  ensured ??= (async () => {
    const override = process.env.CONSUL_BINARY;
    if (override !== undefined && override !== '') {
      if (!existsSync(override)) throw new Error(`CONSUL_BINARY=${override} does not exist`);
      return override;
    }
    if (existsSync(BINARY)) return BINARY;
    mkdirSync(LOCKS, { recursive: true });
    const lock = join(LOCKS, `${CONSUL_VERSION}.lock`);
    const started = Date.now();
    for (;;) {
      try {
        mkdirSync(lock);
        break;
      } catch {
        if (existsSync(BINARY)) return BINARY;
        if (Date.now() - started > 30 * 60_000) {
          throw new Error(`waited 30 min for another build of Consul (remove ${lock} if stale)`);
        }
        await sleep(2000);
      }
    }
    try {
      if (existsSync(BINARY)) return BINARY;
      console.log(
        `[consul] ${BINARY} is missing: building Consul ${CONSUL_VERSION} from the Go module proxy`,
      );
      const tmp = `${BINARY}.tmp`;
      await run(
        'go',
        ['build', '-trimpath', '-ldflags=-s -w', '-o', tmp, 'github.com/hashicorp/consul'],
        MODULE_DIR,
      );
      renameSync(tmp, BINARY);
      console.log(
        `[consul] built ${BINARY} in ${Math.round((Date.now() - started) / 1000)} s; later runs reuse it`,
      );
      return BINARY;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  })();
  ensured.catch(() => {
    ensured = undefined;
  });
  return ensured;
};

/** The ports of one agent. */
export interface ConsulPorts {
  readonly http: number;
  readonly serfLan: number;
  readonly serfWan: number;
  readonly server: number;
  /** The DNS interface (UDP and TCP): `<service>.service.consul` SRV. */
  readonly dns: number;
}

/** How to start one agent. */
export interface ConsulAgentOptions {
  /**
   * `-dev` (in-memory: a restart forgets everything and the index resets)
   * or a server persisting to its data dir (a restart keeps the catalog).
   * @default true
   */
  readonly dev?: boolean;
  /** ACLs with default policy deny and this management token. */
  readonly aclToken?: string;
  /** Node name. @default a unique one */
  readonly node?: string;
  /** Form a cluster of `bootstrapExpect` servers (non-dev only). @default 1 */
  readonly bootstrapExpect?: number;
  /** Serf LAN ports of the other servers to join. */
  readonly join?: readonly number[];
  /** Extra HCL configuration snippets (`limits { http_max_conns_per_client = 1000 }`). */
  readonly hcl?: readonly string[];
  /** Serve HTTPS too, on `httpsPort`, with these PEM files. */
  readonly tls?: { readonly ca: string; readonly cert: string; readonly key: string };
  /** The HTTPS port (allocated by {@link startConsul} when `tls` is given). */
  readonly httpsPort?: number;
}

let serial = 0;
const taken = new Set<number>();

const freshPort = async (): Promise<number> => {
  for (;;) {
    const p = await freePort();
    if (!taken.has(p)) {
      taken.add(p);
      return p;
    }
  }
};

/** Free ports for one agent, distinct from every other agent of this process. */
export const consulPorts = async (): Promise<ConsulPorts> => ({
  http: await freshPort(),
  serfLan: await freshPort(),
  serfWan: await freshPort(),
  server: await freshPort(),
  dns: await freshPort(),
});

const live = new Set<ConsulAgent>();
// Never leave an agent behind, even when a test file crashes.
process.once('exit', () => {
  for (const a of live) a.killNow();
});

/** Sends one request to an agent's HTTP API on its own connection (no pooled socket remains). */
export const consulRequest = (
  httpPort: number,
  method: 'GET' | 'PUT',
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; text: string; index: string | undefined }> =>
  new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        host: '127.0.0.1',
        port: httpPort,
        method,
        path,
        agent: false,
        headers: {
          connection: 'close',
          ...(payload === undefined ? {} : { 'content-length': String(payload.length) }),
          ...(token === undefined ? {} : { 'x-consul-token': token }),
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            index: res.headers['x-consul-index'] as string | undefined,
          }),
        );
        res.once('error', reject);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.once('error', reject);
    req.end(payload);
  });

/** The agent process ended while starting (a port taken by another process, say). */
export class AgentExitedError extends Error {
  constructor(
    node: string,
    readonly output: string,
  ) {
    super(
      `consul agent ${node} exited while starting:\n${output.split('\n').slice(-20).join('\n')}`,
    );
  }

  /** True when it could not bind one of its ports. */
  get portTaken(): boolean {
    return /address already in use|bind:/i.test(this.output);
  }
}

/** Retries `start` (with new ports) while agents fail because a port was taken meanwhile. */
const withFreshPorts = async <T>(start: () => Promise<T>, attempts = 4): Promise<T> => {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (e) {
      if (!(e instanceof AgentExitedError && e.portTaken) || i >= attempts) throw e;
      console.log(`[consul] a port was taken by another process; starting again on new ports`);
    }
  }
};

/** A running (or stopped) Consul agent with fixed ports and data dir. */
export class ConsulAgent {
  #proc: Managed | undefined;

  constructor(
    readonly binary: string,
    readonly ports: ConsulPorts,
    readonly dataDir: string,
    readonly options: ConsulAgentOptions & { readonly node: string },
  ) {}

  /** The HTTP port. */
  get httpPort(): number {
    return this.ports.http;
  }

  /** The DNS port (`dns+srv://127.0.0.1:<dns>/`). */
  get dnsPort(): number {
    return this.ports.dns;
  }

  /** `consul://127.0.0.1:<http>`. */
  get url(): string {
    return `consul://127.0.0.1:${this.ports.http}`;
  }

  /** The node name. */
  get node(): string {
    return this.options.node;
  }

  /** `127.0.0.1:<server port>`, as `/v1/status/leader` names servers. */
  get serverAddress(): string {
    return `127.0.0.1:${this.ports.server}`;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#proc !== undefined && !this.#proc.exited;
  }

  /** The last lines the agent printed. */
  get log(): string {
    return this.#proc?.output() ?? '';
  }

  #args(): string[] {
    const o = this.options;
    const p = this.ports;
    const hcl = [
      'performance { raft_multiplier = 1 }',
      ...(o.hcl ?? []),
      ...(o.tls === undefined
        ? []
        : [
            `tls { defaults { ca_file = "${o.tls.ca}", cert_file = "${o.tls.cert}", key_file = "${o.tls.key}", verify_incoming = false } }`,
          ]),
      ...(o.aclToken === undefined
        ? []
        : [
            `acl { enabled = true, default_policy = "deny", tokens { initial_management = "${o.aclToken}", agent = "${o.aclToken}" } }`,
          ]),
    ];
    const mode =
      o.dev !== false
        ? ['-dev']
        : [
            '-server',
            `-bootstrap-expect=${o.bootstrapExpect ?? 1}`,
            `-data-dir=${this.dataDir}`,
            ...(o.join ?? []).map((port) => `-retry-join=127.0.0.1:${port}`),
            '-retry-interval=1s',
          ];
    return [
      'agent',
      ...mode,
      `-node=${o.node}`,
      '-bind=127.0.0.1',
      '-client=127.0.0.1',
      '-advertise=127.0.0.1',
      `-http-port=${p.http}`,
      ...(o.httpsPort === undefined ? [] : [`-https-port=${o.httpsPort}`]),
      `-dns-port=${p.dns}`,
      '-grpc-port=-1',
      '-grpc-tls-port=-1',
      `-serf-lan-port=${p.serfLan}`,
      `-serf-wan-port=${p.serfWan}`,
      `-server-port=${p.server}`,
      '-log-level=warn',
      '-disable-keyring-file',
      ...hcl.flatMap((h) => ['-hcl', h]),
    ];
  }

  /** Starts the agent (same ports and data dir every time); waits for its HTTP API, not for a leader. */
  async spawn(timeoutMs = 60_000): Promise<void> {
    if (this.running) return;
    const proc = startProcess(this.binary, this.#args());
    this.#proc = proc;
    live.add(this);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exited) {
        this.#proc = undefined;
        throw new AgentExitedError(this.node, proc.output());
      }
      const ok = await consulRequest(this.ports.http, 'GET', '/v1/status/leader').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) {
        throw new Error(
          `consul agent ${this.node} did not serve HTTP within ${timeoutMs} ms:\n${this.log}`,
        );
      }
      await sleep(50);
    }
  }

  /** Starts the agent and waits until it knows a leader (the catalog then works). */
  async start(timeoutMs = 60_000): Promise<void> {
    await this.spawn(timeoutMs);
    await this.waitForLeader(timeoutMs);
  }

  /** The leader's server address as this agent sees it ('' when none). */
  async leader(): Promise<string> {
    const r = await consulRequest(this.ports.http, 'GET', '/v1/status/leader');
    return r.status === 200 ? (JSON.parse(r.text) as string) : '';
  }

  /** Waits until this agent knows a leader and answers catalog reads. */
  async waitForLeader(timeoutMs = 60_000): Promise<void> {
    await until(
      async () =>
        (await this.leader()) !== '' &&
        (
          await consulRequest(
            this.ports.http,
            'GET',
            '/v1/catalog/services',
            undefined,
            this.options.aclToken,
          )
        ).status === 200,
      timeoutMs,
      `consul ${this.node} to know a leader`,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${this.log}`);
    });
  }

  /** Stops the agent (SIGTERM, SIGKILL after 5 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined) return;
    proc.child.kill('SIGCONT');
    await proc.stop(5000);
    this.#proc = undefined;
  }

  /** Kills the agent at once (SIGKILL): no graceful leave. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined) return;
    proc.child.kill('SIGCONT');
    await proc.stop(0);
    this.#proc = undefined;
  }

  /** Stops and starts again on the same ports (a `-dev` agent comes back empty). */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Freezes the agent (SIGSTOP): connections stay open, nothing answers. */
  pause(): void {
    this.#proc?.child.kill('SIGSTOP');
  }

  /** Unfreezes it (SIGCONT). */
  resume(): void {
    this.#proc?.child.kill('SIGCONT');
  }

  /** Kills the process synchronously (process exit). */
  killNow(): void {
    this.#proc?.child.kill('SIGKILL');
  }

  /** Stops the agent for good and removes its data dir. */
  async destroy(): Promise<void> {
    await this.kill();
    live.delete(this);
    rmSync(this.dataDir, { recursive: true, force: true });
    for (const p of Object.values(this.ports)) taken.delete(p);
    if (this.options.httpsPort !== undefined) taken.delete(this.options.httpsPort);
  }

  /** Calls the HTTP API of this agent (with the management token when ACLs are on). */
  api(
    method: 'GET' | 'PUT',
    path: string,
    body?: unknown,
    token: string | undefined = this.options.aclToken,
  ): Promise<{ status: number; text: string; index: string | undefined }> {
    return consulRequest(this.ports.http, method, path, body, token);
  }
}

/** Starts one agent: `-dev` by default, or a persistent single server with `{ dev: false }`. */
export const startConsul = async (options: ConsulAgentOptions = {}): Promise<ConsulAgent> => {
  const binary = await ensureConsul();
  return withFreshPorts(() => startAgent(binary, options));
};

const startAgent = async (binary: string, options: ConsulAgentOptions): Promise<ConsulAgent> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rxdisco-consul-'));
  const agent = new ConsulAgent(binary, await consulPorts(), dataDir, {
    ...options,
    ...(options.tls === undefined ? {} : { httpsPort: await freshPort() }),
    node: options.node ?? `rxdisco-${process.pid}-${++serial}`,
  });
  try {
    await agent.start();
  } catch (e) {
    await agent.destroy();
    throw e;
  }
  return agent;
};

/** Servers forming one cluster. */
export class ConsulCluster {
  constructor(readonly agents: readonly ConsulAgent[]) {}

  /** `consul://` URL listing every server's HTTP endpoint. */
  get url(): string {
    return `consul://${this.agents.map((a) => `127.0.0.1:${a.httpPort}`).join(',')}`;
  }

  /** The current leader among the running agents (waits up to `timeoutMs` for one). */
  async leader(timeoutMs = 30_000): Promise<ConsulAgent> {
    let found: ConsulAgent | undefined;
    await until(
      async () => {
        for (const a of this.agents) {
          if (!a.running) continue;
          const address = await a.leader().catch(() => '');
          found = this.agents.find((b) => b.serverAddress === address && b.running);
          if (found !== undefined) return true;
        }
        return false;
      },
      timeoutMs,
      'a Consul leader',
    );
    return found!;
  }

  /** Stops every server and removes the data dirs. */
  async destroy(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.destroy()));
  }
}

/**
 * Starts `size` Consul servers (default 3) that join each other over serf
 * LAN and elect a leader; each with its own ports and data dir.
 */
export const startConsulCluster = async (size = 3): Promise<ConsulCluster> => {
  const binary = await ensureConsul();
  return withFreshPorts(() => startCluster(binary, size));
};

const startCluster = async (binary: string, size: number): Promise<ConsulCluster> => {
  const ports = await Promise.all(Array.from({ length: size }, () => consulPorts()));
  const id = ++serial;
  const agents = ports.map(
    (p, i) =>
      new ConsulAgent(binary, p, mkdtempSync(join(tmpdir(), 'rxdisco-consul-')), {
        dev: false,
        node: `rxdisco-${process.pid}-${id}-s${i}`,
        bootstrapExpect: size,
        join: ports.filter((_, k) => k !== i).map((q) => q.serfLan),
      }),
  );
  const cluster = new ConsulCluster(agents);
  try {
    await Promise.all(agents.map((a) => a.spawn()));
    await Promise.all(agents.map((a) => a.waitForLeader(90_000)));
  } catch (e) {
    await cluster.destroy();
    throw e;
  }
  return cluster;
};

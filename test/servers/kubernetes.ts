/**
 * Launches a real Kubernetes control plane for tests: etcd, `kube-apiserver`
 * and (optionally) `kube-controller-manager` running the real EndpointSlice
 * controller, on 127.0.0.1 with random free ports, TLS made with openssl,
 * static bearer tokens and RBAC. No kubelet: tests create Pods and patch
 * their status (Running, Ready, an IP) themselves.
 *
 * Kubernetes is not packaged by Debian here: {@link ensureKubernetes} builds
 * the pinned release from the Go module proxy into `.cache/` (git-ignored)
 * once, from the wrapper module `test/servers/kubernetes-build/` (its go.mod
 * requires `k8s.io/kubernetes` and replaces every `./staging` module with its
 * published version; its go.sum pins them). The build takes about 4 minutes
 * and 2.4 GB of memory on 2 cores, so it runs under `flock
 * /tmp/gobuild.lock` (one Go build at a time on the machine).
 * `KUBE_APISERVER_BINARY` and `KUBE_CONTROLLER_MANAGER_BINARY` skip it.
 *
 * Debian's etcd 3.4 is too old for 1.37's watch-list requests, so on it the
 * API server runs with `--feature-gates=WatchList=false`; with `{ etcd:
 * '3.6' }` it runs on etcd 3.6 (built by `kubernetes-etcd36.ts`) with its
 * default gates (watch-list on).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd } from './etcd.js';
import { type Etcd36, startEtcd36 } from './kubernetes-etcd36.js';
import { freePort, type Managed, startProcess, until } from './process.js';

/** The Kubernetes release built and used by the tests. */
export const KUBERNETES_VERSION = 'v1.37.2';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.cache');
const DIR = join(CACHE, `kubernetes-${KUBERNETES_VERSION}`);
const MODULE_DIR = join(ROOT, 'test', 'servers', 'kubernetes-build');
const COMMANDS = ['kube-apiserver', 'kube-controller-manager'] as const;

const run = (cmd: string, args: readonly string[], cwd: string): Promise<void> =>
  new Promise((resolve, reject) => {
    console.log(`[kubernetes] ${cmd} ${args.join(' ')}   (in ${cwd})`);
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

/** The paths of the two binaries. */
export interface KubernetesBinaries {
  readonly apiserver: string;
  readonly controllerManager: string;
}

let ensured: Promise<KubernetesBinaries> | undefined;

const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
const LDFLAGS = [
  '-s -w',
  `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
  `-X k8s.io/component-base/version.gitMajor=${major}`,
  `-X k8s.io/component-base/version.gitMinor=${minor}`,
].join(' ');

/**
 * The two binaries: the `$KUBE_*_BINARY` overrides, else the cached builds
 * under `.cache/kubernetes-v1.37.2/`, built first when missing. Concurrent
 * builders (several processes) serialise on `/tmp/gobuild.lock`; a build
 * writes `<name>.tmp` and renames it, so a binary that exists is complete.
 */
export const ensureKubernetes = (): Promise<KubernetesBinaries> => {
  ensured ??= (async () => {
    const paths: Record<string, string> = {};
    for (const name of COMMANDS) {
      const env = `${name.toUpperCase().replaceAll('-', '_')}_BINARY`;
      const override = process.env[env];
      if (override !== undefined && override !== '') {
        if (!existsSync(override)) throw new Error(`${env}=${override} does not exist`);
        paths[name] = override;
        continue;
      }
      const binary = join(DIR, name);
      paths[name] = binary;
      if (existsSync(binary)) continue;
      mkdirSync(DIR, { recursive: true });
      const started = Date.now();
      const tmp = `${binary}.tmp`;
      await run(
        'flock',
        [
          '/tmp/gobuild.lock',
          'sh',
          '-c',
          // Re-checked under the lock: another process may have built it while we waited.
          `test -e "$0" || { go build -trimpath -ldflags="$1" -o "$2" "$3" && mv "$2" "$0"; }`,
          binary,
          LDFLAGS,
          tmp,
          `k8s.io/kubernetes/cmd/${name}`,
        ],
        MODULE_DIR,
      );
      if (existsSync(tmp)) renameSync(tmp, binary);
      console.log(
        `[kubernetes] ${binary} ready in ${Math.round((Date.now() - started) / 1000)} s; later runs reuse it`,
      );
    }
    return {
      apiserver: paths['kube-apiserver'] ?? '',
      controllerManager: paths['kube-controller-manager'] ?? '',
    };
  })();
  ensured.catch(() => {
    ensured = undefined;
  });
  return ensured;
};

/** The bearer tokens the API server accepts (static token file). */
export const TOKENS = {
  /** `admin`, in `system:masters`: allowed everything. */
  admin: 'rxdisco-admin-token',
  /** `limited`, no groups: allowed only what a test grants it through RBAC. */
  limited: 'rxdisco-limited-token',
} as const;

/**
 * The Node that Pods name in `spec.nodeName` (the EndpointSlice controller
 * skips a Pod whose Node it cannot find), in zone {@link ZONE}. No kubelet
 * runs on it.
 */
export const NODE = 'node-a';

/** The zone label of {@link NODE}. */
export const ZONE = 'zone-a';

/** How to start a control plane. */
export interface KubernetesOptions {
  /**
   * Also run kube-controller-manager with the EndpointSlice and Endpoints
   * controllers (real slices from Pods and selector Services).
   * @default false
   */
  readonly controllerManager?: boolean;
  /**
   * The API server's watch cache. Off, a watch from a compacted resource
   * version answers 410 at once (the cache otherwise keeps history).
   * @default true
   */
  readonly watchCache?: boolean;
  /**
   * The etcd under the API server: Debian's 3.4 (watch-list off), or 3.6
   * built from the module proxy (the API server's default gates).
   * @default '3.4'
   */
  readonly etcd?: '3.4' | '3.6';
}

const openssl = (dir: string, args: readonly string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Makes a CA, a server certificate for 127.0.0.1 and the service-account key pair. */
const makePki = (dir: string): void => {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    '/CN=rxdisco-test-ca',
  ]);
  openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=kube-apiserver',
  ]);
  writeFileSync(
    join(dir, 'san.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n',
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    'server.crt',
    '-extfile',
    'san.ext',
  ]);
  openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
  openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
};

/**
 * A kubeconfig for `server` with a bearer token, or with the given YAML
 * lines of its user (indented under `user:`, such as an `exec:` block).
 */
export const kubeconfigYaml = (
  server: string,
  caFile: string,
  token: string | { readonly userLines: readonly string[] },
  namespace = 'default',
): string =>
  [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caFile}`,
    'users:',
    '- name: user',
    '  user:',
    ...(typeof token === 'string' ? [`    token: ${token}`] : token.userLines),
    'contexts:',
    '- name: test',
    '  context:',
    '    cluster: test',
    '    user: user',
    `    namespace: ${namespace}`,
    'current-context: test',
    '',
  ].join('\n');

/** A running control plane. */
export class KubernetesCluster {
  #apiserver: Managed | undefined;
  #controllers: Managed | undefined;

  constructor(
    readonly binaries: KubernetesBinaries,
    readonly etcd: Etcd36,
    readonly dir: string,
    readonly port: number,
    readonly options: KubernetesOptions,
  ) {}

  /** `https://127.0.0.1:<port>`. */
  get server(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** `127.0.0.1:<port>` (what `k8s://` takes). */
  get hostPort(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The CA certificate file that signed the API server's certificate. */
  get caFile(): string {
    return join(this.dir, 'ca.crt');
  }

  /** A kubeconfig file (admin token) for this cluster. */
  get kubeconfig(): string {
    return join(this.dir, 'admin.kubeconfig');
  }

  /** Starts (or restarts after {@link stopApiserver}) the API server and waits for /readyz. */
  async startApiserver(): Promise<void> {
    const d = (f: string): string => join(this.dir, f);
    const args = [
      `--etcd-servers=${this.etcd.endpoints.map((e) => `http://${e}`).join(',')}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${this.port}`,
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${d('server.crt')}`,
      `--tls-private-key-file=${d('server.key')}`,
      `--client-ca-file=${d('ca.crt')}`,
      `--token-auth-file=${d('tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${d('sa.pub')}`,
      `--service-account-signing-key-file=${d('sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      ...(this.options.etcd === '3.6' ? [] : ['--feature-gates=WatchList=false']),
      `--watch-cache=${this.options.watchCache ?? true}`,
    ];
    const proc = startProcess(this.binaries.apiserver, args);
    this.#apiserver = proc;
    live.add(this);
    try {
      await until(
        async () => {
          if (proc.exited) throw new Error('exited');
          const r = await this.request('GET', '/readyz');
          return r.status === 200;
        },
        60_000,
        `kube-apiserver on ${this.hostPort}`,
      );
    } catch (e) {
      throw new Error(`kube-apiserver did not start: ${String(e)}\n${proc.output()}`);
    }
  }

  /** Stops the API server (the cluster state stays in etcd). */
  async stopApiserver(): Promise<void> {
    await this.#apiserver?.stop();
    this.#apiserver = undefined;
  }

  /** Starts kube-controller-manager (EndpointSlice and Endpoints controllers). */
  async startControllers(): Promise<void> {
    const port = await freePort();
    const proc = startProcess(this.binaries.controllerManager, [
      `--kubeconfig=${this.kubeconfig}`,
      '--controllers=endpointslice-controller,endpoints-controller',
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      // Fast reaction: the controller batches slice updates by this much.
      '--endpointslice-updates-batch-period=0s',
    ]);
    this.#controllers = proc;
    if (proc.exited) throw new Error(`kube-controller-manager exited: ${proc.output()}`);
  }

  /**
   * One request to the API server with the admin token (or `token`);
   * resolves with the status and the parsed JSON body (or the text).
   */
  request(
    method: string,
    path: string,
    body?: unknown,
    options: { readonly token?: string; readonly contentType?: string } = {},
  ): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          rejectUnauthorized: false,
          agent: false,
          headers: {
            authorization: `Bearer ${options.token ?? TOKENS.admin}`,
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : {
                  'content-type': options.contentType ?? 'application/json',
                  'content-length': Buffer.byteLength(payload),
                }),
          },
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Like {@link request}, rejecting unless the status is 2xx; resolves with the body. */
  async api(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown> {
    const r = await this.request(method, path, body, contentType ? { contentType } : {});
    if (r.status < 200 || r.status > 299) {
      throw new Error(`${method} ${path} -> ${r.status}: ${JSON.stringify(r.body)}`);
    }
    return r.body;
  }

  /** Creates namespace `name` and its `default` ServiceAccount (which Pods need). */
  async createNamespace(name: string): Promise<void> {
    await this.api('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name },
    });
    await this.api('POST', `/api/v1/namespaces/${name}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'default' },
    });
  }

  /** The last lines kube-controller-manager printed (for failure messages). */
  controllersOutput(): string {
    return this.#controllers?.output() ?? '';
  }

  /** Stops every process and removes the temporary directory. */
  async destroy(): Promise<void> {
    await this.#controllers?.stop();
    await this.stopApiserver();
    await this.etcd.destroy();
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Kills every process at once (process exit). */
  killNow(): void {
    this.#controllers?.child.kill('SIGKILL');
    this.#apiserver?.child.kill('SIGKILL');
  }
}

const live = new Set<KubernetesCluster>();
process.once('exit', () => {
  for (const c of live) c.killNow();
});

/**
 * Starts etcd and kube-apiserver (and kube-controller-manager when asked)
 * on free loopback ports; about 2 s once the binaries are built.
 */
export const startKubernetes = async (
  options: KubernetesOptions = {},
): Promise<KubernetesCluster> => {
  const binaries = await ensureKubernetes();
  const dir = mkdtempSync(join(tmpdir(), 'rxdisco-k8s-'));
  makePki(dir);
  writeFileSync(
    join(dir, 'tokens.csv'),
    `${TOKENS.admin},admin,admin-uid,"system:masters"\n${TOKENS.limited},limited,limited-uid\n`,
  );
  const etcd =
    options.etcd === '3.6'
      ? await startEtcd36(join(dir, 'etcd'))
      : await startEtcd({ dir: join(dir, 'etcd') });
  const port = await freePort();
  const cluster = new KubernetesCluster(binaries, etcd, dir, port, options);
  writeFileSync(cluster.kubeconfig, kubeconfigYaml(cluster.server, cluster.caFile, TOKENS.admin));
  try {
    await cluster.startApiserver();
    await cluster.api('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: NODE, labels: { 'topology.kubernetes.io/zone': ZONE } },
    });
    if (options.controllerManager === true) await cluster.startControllers();
  } catch (e) {
    await cluster.destroy();
    throw e;
  }
  return cluster;
};

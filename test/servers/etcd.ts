/**
 * Launches real etcd servers for tests: one member or a cluster, on
 * 127.0.0.1 with random free ports and temporary data directories. Installs
 * Debian's `etcd-server` first when `etcd` is missing (as root).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './process.js';

const READY = /serving client traffic|ready to serve client requests/;

const onPath = (cmd: string): string | undefined => {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir, cmd);
    if (dir !== '' && existsSync(p)) return p;
  }
  return undefined;
};

let binary: string | undefined;

/** The path of the etcd binary, installing Debian's etcd-server when it is missing. */
export const etcdBinary = (): string => {
  binary ??= onPath('etcd') ?? (existsSync('/usr/bin/etcd') ? '/usr/bin/etcd' : undefined);
  if (binary !== undefined) return binary;
  if (process.getuid?.() !== 0) {
    throw new Error(
      'etcd is not installed; run as root: apt-get update && apt-get install -y etcd-server',
    );
  }
  for (const args of [['update'], ['install', '-y', 'etcd-server']]) {
    console.log(`etcd is missing: running apt-get ${args.join(' ')}`);
    execFileSync('apt-get', args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  binary = onPath('etcd') ?? '/usr/bin/etcd';
  return binary;
};

/** TLS material for a member: server certificate and the CA that clients must trust. */
export interface EtcdTls {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  /** Require client certificates signed by `ca`. */
  readonly clientCertAuth?: boolean;
}

/** How to start one member. */
export interface EtcdMemberSpec {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** `name=http://127.0.0.1:peer,...` for a cluster; the member alone otherwise. */
  readonly initialCluster?: string;
  /** Shared by the members of one cluster. */
  readonly token?: string;
  readonly tls?: EtcdTls;
}

/** A running (or stopped) etcd member. */
export class EtcdMember {
  #proc: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log: string[] = [];

  constructor(readonly spec: EtcdMemberSpec) {}

  /** `127.0.0.1:port` of the client listener. */
  get endpoint(): string {
    return `127.0.0.1:${this.spec.clientPort}`;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#proc !== undefined;
  }

  /** The last lines etcd logged, for failure messages. */
  get log(): string {
    return this.#log.slice(-30).join('\n');
  }

  /** Starts the process (same ports and data dir every time) and waits until it serves clients. */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.#proc !== undefined) return;
    const s = this.spec;
    const scheme = s.tls ? 'https' : 'http';
    const clientUrl = `${scheme}://127.0.0.1:${s.clientPort}`;
    const peerUrl = `http://127.0.0.1:${s.peerPort}`;
    const args = [
      `--name=${s.name}`,
      `--data-dir=${s.dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${s.initialCluster ?? `${s.name}=${peerUrl}`}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${s.token ?? `rxdisco-${s.peerPort}`}`,
      '--heartbeat-interval=50',
      '--election-timeout=500',
      '--logger=zap',
      '--log-outputs=stderr',
      ...(s.tls
        ? [
            `--cert-file=${s.tls.cert}`,
            `--key-file=${s.tls.key}`,
            ...(s.tls.clientCertAuth
              ? ['--client-cert-auth', `--trusted-ca-file=${s.tls.ca}`]
              : []),
          ]
        : []),
    ];
    const proc = spawn(etcdBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#proc = proc;
    live.add(this);
    this.#exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    void this.#exited.then(() => {
      if (this.#proc === proc) this.#proc = undefined;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`etcd ${s.name} did not start within ${timeoutMs} ms:\n${this.log}`));
      }, timeoutMs);
      const done = (e?: Error): void => {
        clearTimeout(timer);
        proc.stderr?.off('data', onData);
        proc.off('exit', onExit);
        if (e) reject(e);
        else resolve();
      };
      let buffer = '';
      const onData = (chunk: Buffer): void => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        this.#log.push(...lines);
        if (this.#log.length > 200) this.#log.splice(0, this.#log.length - 200);
        if (lines.some((l) => READY.test(l))) done();
      };
      const onExit = (code: number | null): void =>
        done(new Error(`etcd ${s.name} exited with ${code} while starting:\n${this.log}`));
      proc.stderr?.on('data', onData);
      proc.once('exit', onExit);
    });
    // keep draining the log so that the pipe never fills up
    proc.stderr?.on('data', (chunk: Buffer) => {
      this.#log.push(...chunk.toString().split('\n'));
      if (this.#log.length > 200) this.#log.splice(0, this.#log.length - 200);
    });
  }

  /** Stops the process with `signal` and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined) return;
    proc.kill('SIGCONT');
    proc.kill(signal);
    await this.#exited;
    this.#proc = undefined;
  }

  /** Kills the process at once (no graceful shutdown). */
  kill(): Promise<void> {
    return this.stop('SIGKILL');
  }

  /** Kills the process synchronously, without waiting (for process exit). */
  killNow(): void {
    this.#proc?.kill('SIGKILL');
  }

  /** Freezes the process (SIGSTOP): connections stay open, nothing answers. */
  pause(): void {
    this.#proc?.kill('SIGSTOP');
  }

  /** Unfreezes it (SIGCONT). */
  resume(): void {
    this.#proc?.kill('SIGCONT');
  }
}

const live = new Set<EtcdMember>();
// Never leave a server behind, even when a test file crashes.
process.once('exit', () => {
  for (const m of live) m.killNow();
});

/** A set of members and the temporary directory holding their data. */
export class EtcdCluster {
  constructor(
    readonly members: readonly EtcdMember[],
    readonly dir: string,
  ) {}

  /** `127.0.0.1:port` of every member. */
  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** Stops every member, then removes the data directories. */
  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => m.kill()));
    for (const m of this.members) live.delete(m);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts `size` etcd members forming one cluster (a single server when
 * `size` is 1), each with random free ports and its own data dir.
 */
export const startEtcd = async (
  options: { readonly size?: number; readonly tls?: EtcdTls; readonly dir?: string } = {},
): Promise<EtcdCluster> => {
  const size = options.size ?? 1;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'rxdisco-etcd-'));
  const ports: Array<{ client: number; peer: number }> = [];
  const taken = new Set<number>();
  while (ports.length < size) {
    const client = await freePort();
    const peer = await freePort();
    if (client === peer || taken.has(client) || taken.has(peer)) continue;
    taken.add(client);
    taken.add(peer);
    ports.push({ client, peer });
  }
  const initialCluster = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(',');
  const members = ports.map(
    (p, i) =>
      new EtcdMember({
        name: `m${i}`,
        clientPort: p.client,
        peerPort: p.peer,
        dataDir: join(dir, `m${i}`),
        initialCluster,
        token: `rxdisco-${ports[0]!.peer}`,
        ...(options.tls ? { tls: options.tls } : {}),
      }),
  );
  const cluster = new EtcdCluster(members, dir);
  try {
    await Promise.all(members.map((m) => m.start()));
  } catch (e) {
    await cluster.destroy();
    throw e;
  }
  return cluster;
};

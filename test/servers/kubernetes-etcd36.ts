/**
 * etcd 3.6 for the Kubernetes tests: kube-apiserver 1.37 on etcd 3.6 runs
 * with its default feature gates (watch-list requests on), which Debian's
 * etcd 3.4 cannot serve. Debian has no etcd 3.6, so {@link ensureEtcd36}
 * builds `go.etcd.io/etcd/server/v3` from the Go module proxy into
 * `.cache/etcd-v3.6.16/` once, from the wrapper module
 * `test/servers/etcd36-build/` (its go.sum pins every module), under `flock
 * /tmp/gobuild.lock` (one Go build at a time on the machine): about 2 min
 * on 2 cores with empty Go caches (a few seconds of module download, 410 MB
 * peak memory, a 27 MB binary), 22 s when the Go build cache already holds
 * what the Kubernetes build shares with it, nothing once built.
 * `ETCD36_BINARY` skips it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type Managed, startProcess, until } from './process.js';

/** The etcd release built for the tests. */
export const ETCD36_VERSION = 'v3.6.16';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = join(ROOT, '.cache', `etcd-${ETCD36_VERSION}`);
const MODULE_DIR = join(ROOT, 'test', 'servers', 'etcd36-build');

let ensured: Promise<string> | undefined;

/** The etcd 3.6 binary: `$ETCD36_BINARY`, else the cached build, built first when missing. */
export const ensureEtcd36 = (): Promise<string> => {
  ensured ??= (async () => {
    const override = process.env.ETCD36_BINARY;
    if (override !== undefined && override !== '') {
      if (!existsSync(override)) throw new Error(`ETCD36_BINARY=${override} does not exist`);
      return override;
    }
    const binary = join(DIR, 'etcd');
    if (existsSync(binary)) return binary;
    mkdirSync(DIR, { recursive: true });
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const args = [
        '/tmp/gobuild.lock',
        'sh',
        '-c',
        // Re-checked under the lock: another process may have built it while we waited.
        'test -e "$0" || { go build -trimpath -ldflags="-s -w" -o "$0.tmp" go.etcd.io/etcd/server/v3 && mv "$0.tmp" "$0"; }',
        binary,
      ];
      console.log(`[etcd 3.6] flock ${args.join(' ')}   (in ${MODULE_DIR})`);
      const child = spawn('flock', args, {
        cwd: MODULE_DIR,
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, GOFLAGS: '-buildvcs=false -mod=readonly', GOWORK: 'off' },
      });
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`go build of etcd 3.6 exited with ${code}`)),
      );
    });
    console.log(
      `[etcd 3.6] ${binary} ready in ${Math.round((Date.now() - started) / 1000)} s; later runs reuse it`,
    );
    return binary;
  })();
  ensured.catch(() => {
    ensured = undefined;
  });
  return ensured;
};

/** A running etcd 3.6 member (what the API server needs of an etcd). */
export interface Etcd36 {
  /** `127.0.0.1:port` of its client listener. */
  readonly endpoints: readonly string[];
  destroy(): Promise<void>;
}

/** Starts one etcd 3.6 member on free loopback ports with its data in `dir`. */
export const startEtcd36 = async (dir: string): Promise<Etcd36> => {
  const binary = await ensureEtcd36();
  const [client, peer] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const proc: Managed = startProcess(binary, [
    '--name=m0',
    `--data-dir=${dir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=m0=${peerUrl}`,
    '--initial-cluster-state=new',
    '--log-level=warn',
  ]);
  try {
    await until(
      async () => {
        if (proc.exited) throw new Error('exited');
        const r = await fetch(`${clientUrl}/health`).catch(() => undefined);
        return r?.status === 200;
      },
      30_000,
      `etcd 3.6 on 127.0.0.1:${client}`,
    );
  } catch (e) {
    await proc.stop();
    throw new Error(`etcd 3.6 did not start: ${String(e)}\n${proc.output()}`);
  }
  live.add(proc);
  return {
    endpoints: [`127.0.0.1:${client}`],
    destroy: async () => {
      await proc.stop();
      live.delete(proc);
    },
  };
};

const live = new Set<Managed>();
// Never leave a server behind, even when a test file crashes.
process.once('exit', () => {
  for (const p of live) p.child.kill('SIGKILL');
});

/**
 * `rxdisco gateway` as a process (run from the sources with tsx) over a
 * real etcd: the one line it prints, routing from etcd's registry-wide
 * view (a service put into etcd after the start is routable), and the
 * drain on SIGTERM and SIGINT.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { Agent, createServer, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { rawClient } from '../etcd/harness.js';
import { echo, startServer, type TestServer } from '../undici/servers.js';
import { askUntil, get, listenOn } from './harness.js';

expectNoLeakedHandles();

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PATIENCE = 30_000;

let etcd: EtcdCluster;
let raw: Etcd3;
beforeAll(async () => {
  etcd = await startEtcd();
  raw = rawClient(etcd.endpoints);
});
afterAll(async () => {
  raw?.close();
  await etcd?.destroy();
});

interface Child {
  readonly process: ChildProcessWithoutNullStreams;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<Child>();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of children) c.process.kill('SIGKILL');
  await Promise.all([...children].map((c) => c.exited));
  children.clear();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `rxdisco gateway ...args`, from the sources. */
const rxdisco = (...args: string[]): Child => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'gateway', ...args],
    {
      cwd: ROOT,
    },
  );
  child.stdin.end();
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout.on('data', (c: Buffer) => stdout.push(...c.toString().split('\n').filter(Boolean)));
  child.stderr.on('data', (c: Buffer) => stderr.push(...c.toString().split('\n').filter(Boolean)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const c = { process: child, stdout, stderr, exited };
  children.add(c);
  void exited.then(() => children.delete(c));
  return c;
};

/** Waits for the one line of a started gateway; its port. */
const listening = async (c: Child): Promise<number> => {
  await eventually(
    () => c.stdout.length > 0 || c.process.exitCode !== null,
    PATIENCE,
    'the listening line',
  );
  expect(c.stdout, c.stderr.join('\n')).toHaveLength(1);
  const m = /^rxdisco gateway listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(c.stdout[0]!);
  expect(m, c.stdout[0]).not.toBeNull();
  return Number(m![1]);
};

const upstream = async (behaviour: Parameters<typeof startServer>[0]): Promise<TestServer> => {
  const s = await startServer(behaviour);
  cleanups.push(() => s.close());
  return s;
};

let prefixes = 0;
const prefix = () => `/gw-cli-${++prefixes}/`;
const url = (p: string) => `etcd://${etcd.endpoints[0]}${p}`;

describe('rxdisco gateway', () => {
  it(
    'prints one line with the real port and routes a service put into etcd after it started',
    async () => {
      const p = prefix();
      const a = await upstream(echo('a'));
      const gw = rxdisco(url(p), '--listen', '127.0.0.1:0', '--timeout', '5s');
      const port = await listening(gw);
      expect((await get(port, '/orders/1')).status).toBe(404);
      await raw.put(`${p}orders/a`).value(`127.0.0.1:${a.port}`);
      const answer = await askUntil(port, '/orders/1', (r) => r.status !== 404, PATIENCE);
      expect(answer.status).toBe(200);
      expect(answer.body).toBe('a GET /1');
      await raw.delete().key(`${p}orders/a`);
      const gone = await askUntil(port, '/orders/1', (r) => r.status !== 200, PATIENCE);
      expect(gone.status).toBe(404);
      expect(gone.json()).toMatchObject({ error: 'unknown service', service: 'orders' });
      gw.process.kill('SIGTERM');
      expect(await gw.exited).toEqual({ code: 0, signal: null });
      expect(gw.stdout).toHaveLength(1);
    },
    PATIENCE * 2,
  );

  it(
    'on SIGTERM stops accepting, lets the request in flight finish (on a keep-alive connection), and exits 0',
    async () => {
      const p = prefix();
      let release: ((res: ServerResponse) => void) | undefined;
      const held = new Promise<ServerResponse>((resolve) => {
        release = resolve;
      });
      const slowPort = await listenOn(
        createServer((_req, res) => release?.(res)),
        cleanups,
      );
      await raw.put(`${p}slow/a`).value(`127.0.0.1:${slowPort}`);
      // --drain 1h: it exits once the request is answered, not at the deadline,
      // though the client keeps its connection alive.
      const gw = rxdisco(url(p), '--listen', '127.0.0.1:0', '--drain', '1h');
      const port = await listening(gw);
      const agent = new Agent({ keepAlive: true });
      cleanups.push(async () => agent.destroy());
      const inFlight = get(port, '/slow/x', { agent });
      const res = await held;
      gw.process.kill('SIGTERM');
      // The listening socket closes (once the signal is handled): a new connection is refused.
      // (A connection made just before may be closed unanswered: ECONNRESET.)
      let code: string | undefined;
      const deadline = Date.now() + PATIENCE;
      while (code !== 'ECONNREFUSED' && Date.now() < deadline) {
        code = await get(port, '/nobody/y').then(
          () => undefined,
          (e: NodeJS.ErrnoException) => e.code,
        );
      }
      expect(code).toBe('ECONNREFUSED');
      expect(gw.process.exitCode).toBeNull(); // still draining
      res.end('finished');
      const answer = await inFlight;
      expect(answer.status).toBe(200);
      expect(answer.body).toBe('finished');
      expect(await gw.exited).toEqual({ code: 0, signal: null });
    },
    PATIENCE * 2,
  );

  it(
    'on SIGINT exits 0 once --drain is over, even with a request that never ends',
    async () => {
      const p = prefix();
      const a = await upstream(() => undefined); // never answers
      await raw.put(`${p}stuck/a`).value(`127.0.0.1:${a.port}`);
      const gw = rxdisco(url(p), '--listen', '127.0.0.1:0', '--drain', '500ms', '--timeout', '1h');
      const port = await listening(gw);
      const inFlight = get(port, '/stuck/x').then(
        () => 'answered',
        () => 'cut',
      );
      await eventually(() => a.seen.length > 0, PATIENCE, 'the request to reach the upstream');
      gw.process.kill('SIGINT');
      expect(await gw.exited).toEqual({ code: 0, signal: null });
      expect(await inFlight).toBe('cut');
    },
    PATIENCE * 2,
  );

  it(
    'exits 1 with one line when it cannot listen',
    async () => {
      const taken = await upstream(echo('taken'));
      const gw = rxdisco(url(prefix()), '--listen', `127.0.0.1:${taken.port}`);
      expect(await gw.exited).toEqual({ code: 1, signal: null });
      expect(gw.stderr).toEqual([expect.stringMatching(/^rxdisco: .*EADDRINUSE/)]);
      expect(gw.stdout).toEqual([]);
    },
    PATIENCE,
  );

  it(
    'refuses bad arguments with one line and exit 2',
    async () => {
      const gw = rxdisco(url('/x/'), '--balancer', 'fastest');
      expect(await gw.exited).toEqual({ code: 2, signal: null });
      expect(gw.stderr).toEqual([
        expect.stringMatching(/^rxdisco: --balancer must be one of 'round-robin'/),
      ]);
      expect(gw.stdout).toEqual([]);
    },
    PATIENCE,
  );
});

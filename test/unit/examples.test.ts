/**
 * Runs every program of docs/examples/ as a child process (`node --import
 * tsx`), so that the examples cannot rot: each must exit 0 by itself, print
 * nothing on stderr and print its key lines.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TIMEOUT = 20_000;

type Child = ChildProcessByStdio<null, Readable, Readable>;
const children = new Set<Child>();

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `docs/examples/<file>` to its end; `onLine` sees each stdout line as it
 * comes (to send a signal, say). Killed after `deadline` ms so that a hung
 * example fails with its output rather than a bare timeout.
 */
const run = (
  file: string,
  onLine: (line: string, child: Child) => void = () => undefined,
  deadline = TIMEOUT - 5_000,
): Promise<Run> => {
  const child = spawn(process.execPath, ['--import', 'tsx', `docs/examples/${file}`], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line, child);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), deadline);
  return new Promise<Run>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
};

/** Asserts a clean exit, showing the output when it was not. */
const expectClean = (r: Run): void => {
  const output = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  expect(r.signal, output).toBeNull();
  expect(r.code, output).toBe(0);
  expect(r.stderr, output).toBe('');
};

afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

describe('docs/examples', () => {
  it(
    'quick-start.ts picks in round robin and closes',
    async () => {
      const r = await run('quick-start.ts');
      expectClean(r);
      const picks = r.stdout.match(/^pick {6}-> http:\/\/127\.0\.0\.1:\d+$/gm) ?? [];
      expect(picks).toHaveLength(4);
      expect(new Set(picks).size).toBe(2);
      expect(r.stdout).toContain('after close: pick() -> undefined');
      expect(r.stdout).toMatch(/closed\n$/);
    },
    TIMEOUT,
  );

  it(
    'grpc.ts calls two grpc-js servers through rxdisco:/// and closes',
    async () => {
      const r = await run('grpc.ts');
      expectClean(r);
      const greetings = r.stdout.match(/^hello (ada|bob|cy|di) from (alpha|beta)$/gm) ?? [];
      expect(greetings, r.stdout).toHaveLength(4);
    },
    TIMEOUT,
  );

  it(
    'balancers.ts shows each balancer’s distribution',
    async () => {
      const r = await run('balancers.ts');
      expectClean(r);
      expect(r.stdout).toMatch(/^roundRobin {9}abcabc.*a=234 b=233 c=233$/m);
      expect(r.stdout).toMatch(/^weightedRoundRobin aabacaa.*a=500 b=100 c=100$/m);
      expect(r.stdout).toMatch(/^random {13}\S+\.\.\. {2}a=\d+ b=\d+ c=\d+$/m);
      const slow = /^leastRequest, c slow: a=(\d+) b=(\d+) c=(\d+)/m.exec(r.stdout);
      expect(slow, r.stdout).not.toBeNull();
      const [a, b, c] = slow!.slice(1).map(Number) as [number, number, number];
      expect(a + b + c).toBe(400);
      expect(c * 3).toBeLessThan(Math.min(a, b));
      expect(r.stdout).toContain('roundRobin across a change: ab | d joins | cdabc');
    },
    TIMEOUT,
  );

  it(
    'weights-and-tiers.ts shows byLocality, subset, loadReported and slowStart at work',
    async () => {
      const r = await run('weights-and-tiers.ts');
      expectClean(r);
      expect(r.stdout).toContain('byLocality, half of zone a down: a=70% b=30%');
      const subsets = [...r.stdout.matchAll(/^subset for (\S+): (.+)$/gm)].map((m) => m[2]);
      expect(subsets).toHaveLength(3);
      expect(subsets[0]!.split(' ')).toHaveLength(3);
      expect(subsets[2]).toBe(subsets[0]); // the same client id, the same subset
      expect(r.stdout).toContain('loadReported, b-5 at half capacity: b-5=9% others=91%');
      expect(r.stdout).toMatch(/^slowStart, b-9 just joined: b-9=[1-3]% /m);
      expect(r.stdout).toContain('slowStart, after the window: b-9=20% others=80%');
      expect(r.stdout).toMatch(/closed\n$/);
    },
    TIMEOUT,
  );

  it(
    'observability.ts records metrics through an OpenTelemetry SDK, hedges slow calls and explains a pick',
    async () => {
      const r = await run('observability.ts');
      expectClean(r);
      expect(r.stdout).toMatch(/^call \d+: answered by b \(hedge\)$/m);
      expect(r.stdout).toContain('rxdisco.discovery.instances = 2');
      expect(r.stdout).toMatch(/^rxdisco\.call\.hedges = [1-9]\d*$/m);
      expect(r.stdout).toMatch(/^explain: roundRobin picked [ab] of a, b$/m);
      expect(r.stdout).toMatch(/closed\n$/);
    },
    TIMEOUT,
  );

  it(
    'diff.ts reports additions, the update and the removal, not the outage',
    async () => {
      const r = await run('diff.ts');
      expectClean(r);
      expect(r.stdout).toContain('diff: (empty first set)  [size 0]');
      expect(r.stdout).toContain('diff: ~b (UP -> DOWN)  [size 2]');
      expect(r.stdout).toContain('diff: -a  [size 1]');
      const outage = r.stdout.slice(r.stdout.indexOf('outage:'), r.stdout.indexOf('a deregisters'));
      expect(outage).toContain('set: stale=true size=2');
      expect(outage).not.toContain('diff:');
      expect(r.stdout).toMatch(/closed\n$/);
    },
    TIMEOUT,
  );

  it(
    'graceful-shutdown.ts deregisters when its AbortSignal fires',
    async () => {
      const r = await run('graceful-shutdown.ts');
      expectClean(r);
      expect(r.stdout).toContain('registration: registered 127.0.0.1:8080');
      expect(r.stdout).toContain('stopping: timeout');
      expect(r.stdout).toContain('registration: deregistered 127.0.0.1:8080');
      expect(r.stdout).toMatch(/closed; exiting\n$/);
    },
    TIMEOUT,
  );

  it(
    'graceful-shutdown.ts deregisters on SIGINT',
    async () => {
      const r = await run('graceful-shutdown.ts', (line, child) => {
        if (line.startsWith('registration: registered')) child.kill('SIGINT');
      });
      expectClean(r);
      expect(r.stdout).toContain('stopping: SIGINT');
      expect(r.stdout).not.toContain('stopping: timeout');
      expect(r.stdout).toContain('registration: deregistered 127.0.0.1:8080');
    },
    TIMEOUT,
  );
  it(
    'calls.ts retries around a dead instance, ejects it, and reports a CallError',
    async () => {
      const r = await run('calls.ts');
      expectClean(r);
      expect(r.stdout).toContain('outliers: ejected b');
      expect(r.stdout).toContain('call(): 30 calls, 0 failed, answered by a,c');
      expect(r.stdout).toContain('b ejected: true, picking from a,c');
      expect(r.stdout).toContain('CallError: attempts, 2 attempts, service hello');
      expect(r.stdout).toContain('kyFor(): 10 requests answered by a,c');
      expect(r.stdout).toMatch(/closed\n$/);
    },
    TIMEOUT,
  );

  it(
    'fetch.ts sends fetch() and undici.request through discovery, retries around a dead instance',
    async () => {
      const r = await run('fetch.ts');
      expectClean(r);
      expect(r.stdout).toContain('fetch /one: 200 a answered GET /one');
      expect(r.stdout).toContain('fetch /two: 200 b answered GET /two');
      expect(r.stdout).toContain('request /three: 200 a answered GET /three?x=1');
      expect(r.stdout).toContain('b down: 4 GETs answered by a');
      expect(r.stdout).toContain('nobody: NoInstanceError, service nobody');
      expect(r.stdout).toMatch(/closed\n$/);
    },
    TIMEOUT,
  );

  it(
    'gateway.ts routes through the gateway, 404 then 200 for a service that registers, 503 with none up',
    async () => {
      const r = await run('gateway.ts');
      expectClean(r);
      expect(r.stdout).toContain('4 GETs of /hello/greet answered by a and b');
      expect(r.stdout).toMatch(
        /^GET \/billing\/invoices -> 404 \{"error":"unknown service","service":"billing"/m,
      );
      expect(r.stdout).toContain(
        'GET /billing/invoices?month=1 -> 200 a answered GET /invoices?month=1',
      );
      expect(r.stdout).toContain('billing/c: 1 pick, 0 in flight');
      expect(r.stdout).toContain('GET /billing/invoices -> 503, Retry-After: 1');
      expect(r.stdout).toMatch(/closed\n$/);
    },
    TIMEOUT,
  );

  it(
    'fallback.ts switches to the backup and back, and restores the last known set at a cold start',
    async () => {
      const r = await run('fallback.ts');
      expectClean(r);
      expect(r.stdout.split('\n').filter((l) => l.startsWith('switch:'))).toEqual([
        'switch: source - -> 0 (fresh)',
        'switch: source 0 -> 1 (fresh)',
        'switch: source 1 -> 0 (fresh)',
      ]);
      expect(r.stdout).toContain('primary down, using: z (memory://backup)');
      expect(r.stdout).toContain('primary back, using: a (memory://primary)');
      expect(r.stdout).toContain(
        'cold start while the registry is down: a (memory://primary) [stale]',
      );
      expect(r.stdout).toMatch(/closed\n$/);
    },
    TIMEOUT,
  );
});

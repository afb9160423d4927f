/**
 * The line protocol of the Eureka peer-bench children (`eureka-peer.bench.ts`):
 * each child runs one Eureka client in its own process, so that its CPU time
 * is its own, and talks JSON lines.
 *
 * - argv[2]: a {@link ChildConfig} as JSON.
 * - stdout: `{"type":"ready"}` once the client holds the registry;
 *   `{"type":"seen","id":...,"at":...}` when an instance of the probe
 *   application appears (`at`: epoch ms, sub-ms precision, comparable across
 *   processes); `{"type":"marked"}`; `{"type":"result",...}` (a {@link ChildResult}).
 * - stdin: `mark` (start counting CPU and refreshes), `stop` (print the
 *   result, stop the client, exit).
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

/** What the parent tells a child. */
export interface ChildConfig {
  /** `eureka://127.0.0.1:port/eureka`. */
  readonly url: string;
  /** `http://127.0.0.1:port/eureka`: the REST base. */
  readonly base: string;
  /** Fetch interval, ms. */
  readonly interval: number;
  /** The applications to watch (service names, lower case), the probe included. */
  readonly apps: readonly string[];
  /** The application whose new instances are reported as `seen`. */
  readonly probe: string;
  /** eureka-js-client only: its `shouldUseDelta`. */
  readonly delta?: boolean;
}

/** What a child measured between `mark` and `stop`. */
export interface ChildResult {
  readonly type: 'result';
  readonly userMs: number;
  readonly systemMs: number;
  readonly wallMs: number;
  readonly fulls: number;
  readonly deltas: number;
  /** Mean time between two refresh completions: the client's real poll period. */
  readonly periodMs: number;
}

/** Epoch milliseconds with sub-millisecond precision. */
export const now = (): number => performance.timeOrigin + performance.now();

/** Prints one JSON line. */
export const send = (message: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};

/** The config from argv[2]. */
export const childConfig = (): ChildConfig => JSON.parse(process.argv[2] ?? '{}') as ChildConfig;

/** Reports each new id once as `seen`. */
export const seenReporter = (): ((ids: Iterable<string>) => void) => {
  const seen = new Set<string>();
  return (ids) => {
    for (const id of ids) {
      if (seen.has(id)) continue;
      seen.add(id);
      send({ type: 'seen', id, at: now() });
    }
  };
};

const counts = { fulls: 0, deltas: 0 };
/** Completion times of the refreshes since `mark`. */
let ends: number[] = [];

/** Counts one completed refresh (a request answered and applied). */
export const refreshed = (kind: 'full' | 'delta'): void => {
  if (kind === 'full') counts.fulls++;
  else counts.deltas++;
  ends.push(now());
};

/** Answers `mark` and `stop` on stdin; `close` stops the client before the process exits. */
export const serveCommands = (close: () => Promise<void>): void => {
  let cpu = process.cpuUsage();
  let wall = now();
  let base = { ...counts };
  createInterface({ input: process.stdin }).on('line', (line) => {
    const command = line.trim();
    if (command === 'mark') {
      cpu = process.cpuUsage();
      wall = now();
      base = { ...counts };
      ends = [];
      send({ type: 'marked' });
    } else if (command === 'stop') {
      const used = process.cpuUsage(cpu);
      const result: ChildResult = {
        type: 'result',
        userMs: used.user / 1000,
        systemMs: used.system / 1000,
        wallMs: now() - wall,
        fulls: counts.fulls - base.fulls,
        deltas: counts.deltas - base.deltas,
        periodMs: ends.length > 1 ? (ends.at(-1)! - ends[0]!) / (ends.length - 1) : Number.NaN,
      };
      send({ ...result });
      void close().finally(() => process.exit(0));
    }
  });
};

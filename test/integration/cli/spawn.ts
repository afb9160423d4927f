/**
 * Spawns the built `rxdisco` binary and waits on its output, without fixed
 * sleeps: every wait is on an output or exit event, with a timeout.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built binary. */
export const BIN = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));

/** Fails with a clear message when the package was not built. */
export const requireBuild = (): void => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npx tsc -p tsconfig.json first`);
};

/** A running `rxdisco` child and what it printed so far. */
export interface Cli {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the first stdout line (from the start) matching `test`. */
  line(test: (line: string) => boolean, timeoutMs?: number, what?: string): Promise<string>;
  /** Resolves when the child exited and its output is closed. */
  exit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Cli>();

const splitLines = (into: string[], onLine: () => void) => {
  let partial = '';
  return (chunk: Buffer): void => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    into.push(...parts);
    if (parts.length > 0) onLine();
  };
};

/** Runs `node dist/cli/main.js ...args`. */
export const rxdisco = (...args: string[]): Cli => {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout.on('data', splitLines(stdout, notify));
  child.stderr.on('data', splitLines(stderr, notify));
  let exited = false;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      exited = true;
      resolve({ code, signal });
      notify();
    }),
  );

  const within = <T>(ms: number, what: string, work: Promise<T>, cleanup: () => void) =>
    new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out after ${ms} ms waiting for ${what}\nstdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`,
          ),
        );
      }, ms);
      work.then(
        (v) => {
          clearTimeout(t);
          cleanup();
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(t);
          cleanup();
          reject(e);
        },
      );
    });

  const cli: Cli = {
    child,
    stdout,
    stderr,
    line: (test, timeoutMs = 10_000, what = 'a matching line') => {
      let listener = (): void => undefined;
      const found = new Promise<string>((resolve, reject) => {
        listener = () => {
          const hit = stdout.find(test);
          if (hit !== undefined) resolve(hit);
          else if (exited)
            reject(
              new Error(
                `exited before ${what}\nstdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`,
              ),
            );
        };
        listeners.add(listener);
        listener();
      });
      return within(timeoutMs, what, found, () => listeners.delete(listener));
    },
    exit: (timeoutMs = 10_000) => within(timeoutMs, 'the exit', closed, () => undefined),
  };
  running.add(cli);
  void closed.then(() => running.delete(cli));
  return cli;
};

/** Kills every child still running and waits for it to close (for afterEach). */
export const killAll = async (): Promise<void> => {
  await Promise.all(
    [...running].map(async (cli) => {
      cli.child.kill('SIGKILL');
      await cli.exit(10_000);
    }),
  );
};

#!/usr/bin/env node
/**
 * The `rxdisco` binary: `rxdisco watch | services | register | gateway | demo | help`. See
 * {@link run} and `rxdisco --help`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { filter, fromEvent, merge, type Observable, share } from 'rxjs';
import { shutdownSignal } from '../core/shutdown-signal.js';
import { discovery } from '../discovery.js';
import type { CliContext } from './context.js';
import { run } from './run.js';

const version = (): string => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'unknown';
  }
};

/** stdout closed by its reader (`rxdisco watch ... | head -1`): stop as on SIGTERM. */
const stdoutClosed$: Observable<unknown> = fromEvent(process.stdout, 'error').pipe(
  filter((e) => (e as NodeJS.ErrnoException).code === 'EPIPE'),
);

/** The context of the binary: the real stdout/stderr, signals, `discovery()`. */
const nodeContext = (): CliContext => ({
  out: (line) => {
    if (process.stdout.writable) process.stdout.write(`${line}\n`);
  },
  err: (line) => process.stderr.write(`${line}\n`),
  stop$: merge(shutdownSignal(), stdoutClosed$).pipe(share()),
  discovery,
});

const argv = process.argv.slice(2);
const code = await run(argv, nodeContext(), { version: version() });
process.exitCode = code;
if (['watch', 'services', 'register', 'gateway'].includes(argv[0] ?? '')) {
  // Stopped by a signal (or failed) after releasing everything: exit now,
  // whatever a registry client library may still hold.
  process.exit(code);
}

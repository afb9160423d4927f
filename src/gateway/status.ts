/**
 * The gateway's live status page, `/-/status`: every service and instance
 * of the registry with fresh/stale (since when, and why), and the
 * gateway's picks, in-flight requests and ejections per instance, updated
 * live over server-sent events. Plain HTML and one inline script, no build
 * step, no external resource, a strict Content-Security-Policy.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { asyncScheduler, map, type SchedulerLike, take, timeout } from 'rxjs';
import { durationOption, numberOption } from '../core/options.js';
import { renderStatusPage, STATUS_PAGE_CSP } from './status-html.js';
import { StatusHub } from './status-hub.js';
import type { StatusSource } from './status-source.js';
import { readStats, type StatusState, statusState } from './status-state.js';

/** Options of {@link statusPage}. */
export interface StatusPageOptions {
  /** Most event-stream clients at once; one more gets a 503 with `Retry-After`. @default 64 */
  readonly maxClients?: number;
  /** How often the counters are compared and the changed ones sent. @default 1000 */
  readonly statsIntervalMs?: number;
  /** How often a comment line is sent on an idle stream, so that proxies keep it open. @default 15000 */
  readonly heartbeatMs?: number;
  /**
   * A client that has this many bytes written but not yet sent is cut (its
   * browser reconnects and gets a full state): a stalled client costs at
   * most this much memory. @default 1048576
   */
  readonly maxBufferedBytes?: number;
  /** How long the page and `/-/status.json` wait for the first catalog before a 503. @default 10000 */
  readonly firstStateTimeoutMs?: number;
  /** Drives the counters tick, the heartbeat and the first-catalog timeout. @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

const PAGE = '/-/status';
const EVENTS = '/-/status/events';
const JSON_PATH = '/-/status.json';

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

const sendJson = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
};

/**
 * The status page's request handler: true when it answered the request (a
 * path under `/-/status`), false when the request is not its own.
 */
export interface StatusPage {
  (req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Ends every open event stream and answers later ones with a `503`, so
   * that a server shutting down does not wait for browsers watching the
   * page (they would never end their requests). The page and
   * `/-/status.json` keep answering.
   */
  close(): void;
}

/** True for the paths the status page owns: `/-/status`, `/-/status.json`, `/-/status/...`. */
const owns = (path: string): boolean =>
  path === PAGE || path === JSON_PATH || path.startsWith(`${PAGE}/`);

/**
 * The status page as a request handler to mount in a `node:http` server (the
 * gateway mounts it): it answers every path under `/-/status` and returns
 * true, or returns false and leaves the request alone.
 *
 * - `GET /-/status`: the HTML page, following the event stream.
 * - `GET /-/status/events`: `text/event-stream`; a `state` event (the whole
 *   state, as `/-/status.json`) first, then a `catalog` event per catalog
 *   change (the registry's staleness, the changed services in full, the
 *   removed names) and a `stats` event per tick when counters moved
 *   (`changes`: `[service, id, picks, inFlight, ejected, ejections]`), and a
 *   `: heartbeat` comment every `heartbeatMs`. Past `maxClients`: 503.
 * - `GET /-/status.json`: the state once.
 *
 * @example
 * ```ts
 * const status = statusPage({ registry: d.registry, catalog$: d.catalog$(), stats: () => undefined });
 * createServer((req, res) => {
 *   if (!status(req, res)) res.writeHead(404).end();
 * }).listen(8080);
 * ```
 */
export const statusPage = (source: StatusSource, options: StatusPageOptions = {}): StatusPage => {
  const maxClients = numberOption('maxClients', options.maxClients, 64, { integer: true, min: 1 });
  const statsIntervalMs = durationOption('statsIntervalMs', options.statsIntervalMs, 1000, {
    above: 0,
  });
  const heartbeatMs = durationOption('heartbeatMs', options.heartbeatMs, 15_000, { above: 0 });
  const maxBufferedBytes = numberOption('maxBufferedBytes', options.maxBufferedBytes, 1 << 20, {
    integer: true,
    min: 1,
  });
  const firstStateTimeoutMs = durationOption(
    'firstStateTimeoutMs',
    options.firstStateTimeoutMs,
    10_000,
    { above: 0 },
  );
  const scheduler = options.scheduler ?? asyncScheduler;
  const hub = new StatusHub(source, { statsIntervalMs, heartbeatMs, scheduler });
  let streams = 0;

  /** Answers with the current state (the hub's, or the first catalog's), then `respond`. */
  const withState = (res: ServerResponse, respond: (state: StatusState) => void): void => {
    const current = hub.current();
    if (current !== undefined) {
      respond(current);
      return;
    }
    const sub = source.catalog$
      .pipe(
        take(1),
        map((c) => statusState(source.registry, c, (s, id) => readStats(source, s, id))),
        timeout({ first: firstStateTimeoutMs, scheduler }),
      )
      .subscribe({
        next: respond,
        error: (e: unknown) =>
          sendJson(
            res,
            503,
            {
              error:
                e instanceof Error && e.name !== 'TimeoutError'
                  ? e.message
                  : `the registry's catalog did not arrive within ${firstStateTimeoutMs} ms`,
              registry: source.registry,
            },
            { 'retry-after': '5' },
          ),
      });
    res.once('close', () => sub.unsubscribe());
  };

  let closed = false;

  const events = (req: IncomingMessage, res: ServerResponse): void => {
    if (closed) {
      sendJson(res, 503, { error: 'the status page is closed: the server is shutting down' });
      return;
    }
    if (streams >= maxClients) {
      sendJson(
        res,
        503,
        { error: `too many status streams open (at most ${maxClients})` },
        { 'retry-after': '5' },
      );
      return;
    }
    streams++;
    req.socket.setNoDelay(true);
    res.writeHead(200, {
      ...COMMON_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const leave = hub.join({
      send: (frame) => {
        if (res.writableLength > maxBufferedBytes) res.destroy();
        else res.write(frame);
      },
      end: () => res.end(),
    });
    res.once('close', () => {
      streams--;
      leave();
    });
  };

  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!owns(path)) return false;
    const method = req.method ?? 'GET';
    const allowed = path === EVENTS ? ['GET'] : ['GET', 'HEAD'];
    if (path !== PAGE && path !== JSON_PATH && path !== EVENTS) {
      sendJson(res, 404, { error: `no status resource at ${path}` });
    } else if (!allowed.includes(method)) {
      sendJson(
        res,
        405,
        { error: `${method} is not allowed on ${path}` },
        {
          allow: allowed.join(', '),
        },
      );
    } else if (path === EVENTS) {
      events(req, res);
    } else if (path === JSON_PATH) {
      withState(res, (state) => {
        if (method === 'HEAD') res.writeHead(200, COMMON_HEADERS).end();
        else sendJson(res, 200, state);
      });
    } else {
      withState(res, (state) => {
        const html = renderStatusPage(state);
        res.writeHead(200, {
          ...COMMON_HEADERS,
          'content-type': 'text/html; charset=utf-8',
          'content-length': String(Buffer.byteLength(html)),
          'content-security-policy': STATUS_PAGE_CSP,
        });
        res.end(method === 'HEAD' ? undefined : html);
      });
    }
    return true;
  };
  return Object.assign(handle, {
    close: () => {
      closed = true;
      hub.close();
    },
  });
};

/**
 * The Eureka HTTP client: the backends' `node:http` transport (see
 * `../transport.ts`), no retries of its own, every request
 * tried on the service URLs (Eureka peers) in order. A peer that fails
 * (connection refused, timeout, 5xx) is skipped for `peerCooldownMs` and
 * tried again after that; the first healthy peer in URL order is always
 * preferred, so traffic comes back to the first peer once it recovers.
 *
 * @module
 */

import {
  AuthenticationError,
  type ErrorContext,
  RegistryUnavailableError,
} from '../../core/errors.js';
import { durationOption } from '../../core/options.js';
import { readTls } from '../../core/pem.js';
import { formatHostPort } from '../../core/url.js';
import {
  type AnswerLimits,
  type AnswerTooLargeError,
  fetchTransport,
  isAnswerTooLargeError,
  type ResolvedAnswerLimits,
  resolveAnswerLimits,
  type Transport,
  transport,
} from '../transport.js';
import type { EurekaConfig } from './url.js';

export type { EurekaConfig } from './url.js';

/**
 * Options of the Eureka backend. All optional. The {@link AnswerLimits}
 * (`maxAnswerBytes`, `idleReadTimeoutMs`, `bodyTimeoutMs`) bound what one
 * answer of a peer may cost.
 */
export interface EurekaOptions extends AnswerLimits {
  /**
   * Milliseconds between two registry refreshes (`GET /apps/delta`). Shorter
   * means changes propagate sooner, at the cost of one request per interval
   * (a delta is small: see docs/eureka.md). The URL's `?interval=30s` is
   * used when this is not given.
   * @default 30_000
   */
  readonly intervalMs?: number;
  /**
   * Milliseconds for a peer to answer one HTTP request (its headers; the
   * body then has `bodyTimeoutMs`) before it is given up and the next peer
   * is tried.
   * @default 10_000
   */
  readonly timeoutMs?: number;
  /**
   * Milliseconds a failed peer is skipped before it is tried again first.
   * @default 30_000
   */
  readonly peerCooldownMs?: number;
  /**
   * The `homePageUrl`, `statusPageUrl` and `healthCheckUrl` to register for
   * an instance (Spring Boot Admin and the Eureka dashboard link to them).
   */
  readonly pages?: (instance: {
    readonly host: string;
    readonly port: number;
    readonly secure: boolean;
    readonly service: string;
  }) => {
    readonly homePageUrl?: string;
    readonly statusPageUrl?: string;
    readonly healthCheckUrl?: string;
  };
  /**
   * @internal A fetch to send requests with instead of the backend's own
   * `node:http` pool (released on `close()`, trusting `?ca=`); tests pass a
   * fake one to replay recorded payloads. Not in the published types.
   * @default the backend's own pool
   */
  readonly fetch?: typeof globalThis.fetch;
}

/** {@link EurekaOptions} with every default applied. */
export interface ResolvedEurekaOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly peerCooldownMs: number;
  readonly pages: EurekaOptions['pages'];
  readonly fetch: typeof globalThis.fetch | undefined;
  /** Bounds on every answer (size, stalls, trickles). */
  readonly answers: ResolvedAnswerLimits;
}

/**
 * Resolves and checks options once; the URL's `?interval=` is used when
 * `options.intervalMs` is not given.
 *
 * @throws {ConfigError} naming the option out of range.
 */
export const resolveEurekaOptions = (
  config: EurekaConfig,
  options: EurekaOptions,
): ResolvedEurekaOptions => {
  const context = { registry: config.url };
  const positive = { min: 1 };
  return {
    intervalMs: durationOption(
      'intervalMs',
      options.intervalMs ?? config.intervalMs,
      30_000,
      positive,
      context,
    ),
    timeoutMs: durationOption('timeoutMs', options.timeoutMs, 10_000, positive, context),
    peerCooldownMs: durationOption(
      'peerCooldownMs',
      options.peerCooldownMs,
      30_000,
      positive,
      context,
    ),
    pages: options.pages,
    fetch: options.fetch,
    answers: resolveAnswerLimits(options, context),
  };
};

/** A plain answer: status and body text. */
export interface EurekaResponse {
  readonly status: number;
  readonly text: string;
  /** Bytes of the body as received. */
  readonly bytes: number;
}

/** One request. `path` is relative to the service URL (`/apps/delta`). */
export interface EurekaRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly json?: unknown;
  readonly searchParams?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  readonly context: ErrorContext;
}

/** The HTTP side of a backend: requests with peer failover; `close()` releases sockets. */
export interface EurekaClient {
  readonly registry: string;
  request(req: EurekaRequest): Promise<EurekaResponse>;
  close(): void;
}

const describe = (e: unknown): string => {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    const code = (e as { code?: unknown }).code ?? (cause as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' ? `${e.message} (${code})` : e.message;
  }
  return String(e);
};

/** The Eureka client of a parsed URL. */
export const eurekaClient = (
  config: EurekaConfig,
  options: ResolvedEurekaOptions,
): EurekaClient => {
  const registry = config.url;
  const scheme = config.tls ? 'https' : 'http';
  const tls = readTls(config);
  const http: Transport =
    options.fetch === undefined
      ? transport(tls, options.answers)
      : fetchTransport(options.fetch, options.answers);
  const headers: Record<string, string> = {};
  if (config.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`;
  }
  const bases = config.endpoints.map(
    (e) => `${scheme}://${formatHostPort(e.host, e.port)}${config.path}`,
  );
  const downUntil = bases.map(() => 0);

  /** Peers in the order to try: healthy ones in URL order, then the others by recovery time. */
  const order = (): number[] => {
    const now = Date.now();
    const all = bases.map((_, i) => i);
    const up = all.filter((i) => downUntil[i]! <= now);
    const down = all
      .filter((i) => downUntil[i]! > now)
      .sort((a, b) => downUntil[a]! - downUntil[b]!);
    return [...up, ...down];
  };

  const request = async (req: EurekaRequest): Promise<EurekaResponse> => {
    const failures: string[] = [];
    let tooLarge: AnswerTooLargeError | undefined;
    for (const i of order()) {
      if (req.signal?.aborted) throw req.signal.reason;
      const url = `${bases[i]}${req.path}`;
      try {
        const target = new URL(url);
        for (const [k, v] of Object.entries(req.searchParams ?? {})) target.searchParams.set(k, v);
        const res = await http.send({
          method: req.method,
          url: target,
          headers,
          ...(req.json === undefined ? {} : { body: JSON.stringify(req.json) }),
          ...(req.signal === undefined ? {} : { signal: req.signal }),
          timeoutMs: options.timeoutMs,
          context: req.context,
        });
        const text = res.text;
        if (res.status === 401) {
          throw new AuthenticationError(
            `${req.method} ${config.path}${req.path} answered 401`,
            req.context,
          );
        }
        if (res.status >= 500) {
          failures.push(`${bases[i]}: HTTP ${res.status}`);
          downUntil[i] = Date.now() + options.peerCooldownMs;
          continue;
        }
        downUntil[i] = 0;
        return { status: res.status, text, bytes: res.bytes };
      } catch (e) {
        if (e instanceof AuthenticationError) throw e;
        if (req.signal?.aborted) throw e;
        if (isAnswerTooLargeError(e)) tooLarge = e;
        failures.push(`${bases[i]}: ${describe(e)}`);
        downUntil[i] = Date.now() + options.peerCooldownMs;
      }
    }
    // An answer too large is the error to act on (raise maxAnswerBytes), not a peer being down.
    if (tooLarge !== undefined) throw tooLarge;
    throw new RegistryUnavailableError(
      `${req.method} ${req.path} failed on every Eureka server: ${failures.join('; ')}`,
      req.context,
    );
  };

  return {
    registry,
    request,
    close: () => http.close(),
  };
};

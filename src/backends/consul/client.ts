/**
 * The HTTP client of a Consul backend, on ky: one connection pool per
 * backend, the ACL token sent as the `X-Consul-Token` header (never in a URL
 * or a message), `retry: 0` (the core owns retries), a timeout on every
 * request, and the agents of the URL tried in turn when one cannot be
 * reached.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import ky from 'ky';
import { ConfigError, type ErrorContext } from '../../core/errors.js';
import type { RegistryConfig } from '../../core/url.js';
import { httpError, transportError } from './errors.js';
import { type PooledFetch, pooledFetch, type TlsMaterial } from './http-fetch.js';

/** The Consul part of a parsed registry URL. */
export type ConsulConfig = Extract<RegistryConfig, { kind: 'consul' }>;

/** How reads are served (Consul's consistency modes). */
export type ConsulConsistency = 'default' | 'stale' | 'consistent';

/** What one HTTP exchange with Consul answered. */
export interface ConsulAnswer {
  readonly status: number;
  readonly text: string;
  /** `X-Consul-Index`, when present and numeric. */
  readonly index: number | undefined;
  /** True when Consul says ACLs filtered the result (`X-Consul-Results-Filtered-By-ACLs`). */
  readonly filteredByAcls: boolean;
}

/** One request. */
export interface ConsulRequest {
  readonly method: 'GET' | 'PUT';
  /** Path under the agent, starting with `/v1/`; path segments already encoded. */
  readonly path: string;
  readonly searchParams?: ReadonlyArray<readonly [string, string]>;
  readonly json?: unknown;
  readonly signal?: AbortSignal;
  /** Milliseconds before the request is abandoned. */
  readonly timeout: number;
  /** Error context (registry, service). */
  readonly context: ErrorContext;
  /** Statuses to hand back instead of turning into errors (e.g. 404). */
  readonly accept?: readonly number[];
}

/** The client every part of the backend shares. */
export interface ConsulClient {
  /** Sends a request to the current agent; rejects with a typed error. */
  request(req: ConsulRequest): Promise<ConsulAnswer>;
  /** Releases the connection pool. */
  close(): void;
}

const readPem = (config: ConsulConfig, param: 'ca' | 'cert' | 'key'): Buffer | undefined => {
  const path = config.params[param];
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(
      `url.${param}`,
      `cannot be read from '${path}' (${(e as Error).message})`,
      'pass the path of a PEM file readable by this process',
      { registry: config.url },
    );
  }
};

const tlsOf = (config: ConsulConfig): TlsMaterial => {
  const ca = readPem(config, 'ca');
  const cert = readPem(config, 'cert');
  const key = readPem(config, 'key');
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(
      cert === undefined ? 'url.cert' : 'url.key',
      'is missing: a client certificate needs both cert and key',
      'pass ?cert=/path/client.pem&key=/path/client-key.pem',
      { registry: config.url },
    );
  }
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  };
};

const parseIndex = (value: string | null): number | undefined => {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
};

/**
 * Creates the client for `config`. `token` (from the options) wins over the
 * URL's `?token=`.
 */
export const consulClient = (config: ConsulConfig, token: string | undefined): ConsulClient => {
  const scheme = config.tls ? 'https' : 'http';
  const bases = config.endpoints.map(
    (e) => `${scheme}://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`,
  );
  let pool: PooledFetch | undefined;
  let current = 0;
  let closed = false;
  const headers: Record<string, string> = token === undefined ? {} : { 'X-Consul-Token': token };

  const request = async (req: ConsulRequest): Promise<ConsulAnswer> => {
    if (closed) {
      throw new ConfigError('discovery', 'is closed', 'create a new discovery() after close()', {
        registry: config.url,
      });
    }
    pool ??= pooledFetch(tlsOf(config));
    const at = current;
    const base = bases[at % bases.length]!;
    const what = `${req.method} ${req.path}`;
    const searchParams = new URLSearchParams();
    for (const [k, v] of req.searchParams ?? []) searchParams.append(k, v);
    let response: Response;
    try {
      response = await ky(`${base}${req.path}`, {
        method: req.method,
        searchParams,
        headers,
        ...(req.json === undefined ? {} : { json: req.json }),
        ...(req.signal === undefined ? {} : { signal: req.signal }),
        timeout: req.timeout,
        retry: 0,
        throwHttpErrors: false,
        fetch: pool.fetch,
      });
    } catch (e) {
      // The agent cannot be reached: the next request goes to the next one.
      if (!req.signal?.aborted && current === at) current = at + 1;
      throw req.signal?.aborted ? e : transportError(e, what, req.context);
    }
    const text = await response.text();
    if (!response.ok && !(req.accept ?? []).includes(response.status)) {
      if (response.status >= 500 && current === at) current = at + 1;
      throw httpError(response.status, text, what, req.context);
    }
    return {
      status: response.status,
      text,
      index: parseIndex(response.headers.get('x-consul-index')),
      filteredByAcls: response.headers.get('x-consul-results-filtered-by-acls') === 'true',
    };
  };

  return {
    request,
    close: () => {
      closed = true;
      pool?.close();
      pool = undefined;
    },
  };
};

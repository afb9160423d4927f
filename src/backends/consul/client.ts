/**
 * The HTTP client of a Consul backend: one connection pool per backend
 * (`node:http`, see `../transport.ts` for why not ky/fetch), the ACL token
 * sent as the `X-Consul-Token` header (never in a URL or a message), no
 * retries (the core owns them), a timeout on every request, and the agents
 * of the URL tried in turn when one cannot be reached.
 *
 * @module
 */
import { closedError, type ErrorContext } from '../../core/errors.js';
import { readTls } from '../../core/pem.js';
import { formatHostPort } from '../../core/url.js';
import {
  DEFAULT_ANSWER_LIMITS,
  type RawAnswer,
  type ResolvedAnswerLimits,
  type Transport,
  transport,
} from '../transport.js';
import { httpError, transportError } from './errors.js';
import { connectionSlots, type SlotKind } from './slots.js';
import type { ConsulConfig } from './url.js';

export type { ConsulConfig } from './url.js';

/** How reads are served (Consul's consistency modes). */
export type ConsulConsistency = 'default' | 'stale' | 'consistent';

/** What one HTTP exchange with Consul answered. */
export interface ConsulAnswer {
  readonly status: number;
  readonly text: string;
  /** `X-Consul-Index`, when present and numeric. */
  readonly index: number | undefined;
  /**
   * True when Consul says ACLs filtered the result (`X-Consul-Results-Filtered-By-ACLs`).
   * Consul never sets it for a request without a token (so as not to tell
   * anonymous callers what exists).
   */
  readonly filteredByAcls: boolean;
  /**
   * `X-Consul-Default-Acl-Policy`, sent on every answer: `'deny'` when ACLs
   * are enforced, `'allow'` when they are off or allow by default.
   */
  readonly aclDefaultPolicy: 'allow' | 'deny' | undefined;
}

/** One request. */
export interface ConsulRequest {
  readonly method: 'GET' | 'PUT' | 'POST';
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
  /**
   * Which connection slots the request takes (see `slots.ts`): `blocking`
   * for a query with an `index`, `read` for one that does not block.
   * @default 'write' (registrations and renewals: served first)
   */
  readonly kind?: SlotKind;
  /**
   * Ask for a gzip answer (registry-wide answers: 20x smaller).
   * @default false
   */
  readonly gzip?: boolean;
}

/** The client every part of the backend shares. */
export interface ConsulClient {
  /** Sends a request to the current agent; rejects with a typed error. */
  request(req: ConsulRequest): Promise<ConsulAnswer>;
  /** Releases the connection pool. */
  close(): void;
}

/** One header of an answer (the first, when repeated), or null. */
const header = (answer: RawAnswer, name: string): string | null => {
  const v = answer.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? null;
};

const parseIndex = (value: string | null): number | undefined => {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
};

const aclPolicyOf = (value: string | null): 'allow' | 'deny' | undefined => {
  const v = value?.trim().toLowerCase();
  return v === 'allow' || v === 'deny' ? v : undefined;
};

/** How many requests one client sends at once (see `slots.ts`). */
export interface ConnectionCap {
  /** Requests (so sockets) in flight at most. */
  readonly max: number;
  /** Blocking queries in flight at most (below `max`). */
  readonly maxBlocking: number;
}

/**
 * Creates the client for `config`. `token` (from the options) wins over the
 * URL's `?token=`. At most `cap.max` requests are in flight at once, so at
 * most that many sockets are open to the agents.
 */
export const consulClient = (
  config: ConsulConfig,
  token: string | undefined,
  limits: ResolvedAnswerLimits = DEFAULT_ANSWER_LIMITS,
  cap: ConnectionCap = { max: 64, maxBlocking: 48 },
): ConsulClient => {
  const slots = connectionSlots(cap.max, cap.maxBlocking);
  const scheme = config.tls ? 'https' : 'http';
  const bases = config.endpoints.map((e) => `${scheme}://${formatHostPort(e.host, e.port)}`);
  let pool: Transport | undefined;
  let current = 0;
  let closed = false;
  const headers: Record<string, string> = token === undefined ? {} : { 'X-Consul-Token': token };

  const request = async (req: ConsulRequest): Promise<ConsulAnswer> => {
    if (closed) {
      throw closedError(config.url);
    }
    const release = await slots.acquire(req.kind ?? 'write', req.signal);
    if (closed) {
      release();
      throw closedError(config.url);
    }
    pool ??= transport(readTls(config), limits);
    const at = current;
    const base = bases[at % bases.length]!;
    const what = `${req.method} ${req.path}`;
    const url = new URL(`${base}${req.path}`);
    for (const [k, v] of req.searchParams ?? []) url.searchParams.append(k, v);
    let answer: RawAnswer;
    try {
      answer = await pool.send({
        method: req.method,
        url,
        headers,
        ...(req.json === undefined ? {} : { body: JSON.stringify(req.json) }),
        ...(req.signal === undefined ? {} : { signal: req.signal }),
        timeoutMs: req.timeout,
        context: req.context,
        ...(req.gzip ? { gzip: true } : {}),
      });
    } catch (e) {
      // The agent cannot be reached: the next request goes to the next one.
      if (!req.signal?.aborted && current === at) current = at + 1;
      throw req.signal?.aborted ? e : transportError(e, what, req.context);
    } finally {
      release();
    }
    const ok = answer.status >= 200 && answer.status < 300;
    if (!ok && !(req.accept ?? []).includes(answer.status)) {
      if (answer.status >= 500 && current === at) current = at + 1;
      throw httpError(answer.status, answer.text, what, req.context);
    }
    return {
      status: answer.status,
      text: answer.text,
      index: parseIndex(header(answer, 'x-consul-index')),
      filteredByAcls: header(answer, 'x-consul-results-filtered-by-acls') === 'true',
      aclDefaultPolicy: aclPolicyOf(header(answer, 'x-consul-default-acl-policy')),
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

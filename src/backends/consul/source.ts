/**
 * The Consul watch sources: the instances of a service from blocking queries
 * on `/v1/health/service/<name>`, and the service names from
 * `/v1/catalog/services`. Consul answers every query with the whole result,
 * so each session starts with a snapshot and every new content is a
 * snapshot too; the core turns them into one emission per effective change.
 *
 * @module
 */
import { defer, map, type Observable, type SchedulerLike } from 'rxjs';
import type { WatchParams } from '../../core/discovery.js';
import type { ErrorContext } from '../../core/errors.js';
import type { ServiceListEvent, SourceEvent, WatchSource } from '../../core/watch.js';
import { checkWatchParams } from '../../core/watch-params.js';
import { type BlockingRead, blockingQuery, consulDuration } from './blocking.js';
import type { ConsulAnswer, ConsulClient, ConsulConfig, ConsulConsistency } from './client.js';
import {
  type DecodedHealth,
  decodeCatalogServices,
  decodeHealthSliced,
  fingerprintOf,
} from './codecs.js';
import { isAbortError, missingTokenError } from './errors.js';
import type { ResolvedConsulOptions } from './options.js';
import { consulUrl, consulWatch } from './url.js';

/** What the sources need from their backend. */
export interface SourceDeps {
  readonly client: ConsulClient;
  readonly config: ConsulConfig;
  readonly options: ResolvedConsulOptions;
  readonly scheduler: SchedulerLike;
}

const consistencyParams = (c: ConsulConsistency): Array<[string, string]> =>
  c === 'default' ? [] : [[c, '']];

/**
 * The query string of a health watch from its params (see
 * `CONSUL_WATCH_PARAMS` and {@link consulWatch}).
 *
 * @throws {ConfigError} for an unknown param or a bad value.
 */
export const healthQuery = (
  params: WatchParams,
  deps: Pick<SourceDeps, 'config' | 'options'>,
  context: ErrorContext,
): Array<[string, string]> => {
  checkWatchParams(params, consulUrl, context);
  const watch = consulWatch(params, context);
  const q: Array<[string, string]> = [];
  if (watch.passing) q.push(['passing', 'true']);
  for (const t of watch.tags) q.push(['tag', t]);
  if (watch.near !== undefined) q.push(['near', watch.near]);
  const dc = watch.dc ?? deps.config.dc;
  if (dc !== undefined) q.push(['dc', dc]);
  if (watch.filter !== undefined) q.push(['filter', watch.filter]);
  q.push(...consistencyParams(watch.consistency ?? deps.options.consistency));
  return q;
};

/** The `index` and `wait` of a blocking query (none for the first, which does not block). */
export const blockingParams = (index: number, waitMs: number): Array<[string, string]> =>
  index > 0
    ? [
        ['index', String(index)],
        ['wait', consulDuration(waitMs)],
      ]
    : [];

/**
 * Whether the token Consul uses for requests without one (the agent's
 * `default` token, else the anonymous token) may read `service`, from
 * `POST /v1/internal/acl/authorize` (the endpoint Consul's UI checks
 * permissions with). `undefined` when Consul cannot tell (an older agent
 * without the endpoint, ACLs off, any failure): the watch then goes on as
 * before.
 */
export const anonymousMayRead = async (
  deps: Pick<SourceDeps, 'client' | 'options'>,
  service: string,
  signal: AbortSignal,
  context: ErrorContext,
): Promise<boolean | undefined> => {
  try {
    const answer = await deps.client.request({
      method: 'POST',
      path: '/v1/internal/acl/authorize',
      json: [{ Resource: 'service', Segment: service, Access: 'read' }],
      signal,
      kind: 'read',
      timeout: deps.options.blocking.requestTimeoutMs,
      context,
      accept: [401, 403, 404, 405],
    });
    if (answer.status !== 200) return undefined;
    const checks: unknown = JSON.parse(answer.text);
    const allow = Array.isArray(checks) ? (checks[0] as { Allow?: unknown })?.Allow : undefined;
    return typeof allow === 'boolean' ? allow : undefined;
  } catch (e) {
    if (isAbortError(e, signal)) throw e;
    return undefined;
  }
};

/**
 * True when a watch must fail because no token was given although Consul
 * enforces ACLs and would filter `service` out of every answer. Checked on
 * the first (non-blocking) query of a session, only when no token is
 * configured, the agent says its default policy is deny and the set is
 * empty: one extra request, and none at all in the other cases.
 */
const deniedWithoutToken = async (
  deps: SourceDeps,
  answer: ConsulAnswer,
  value: DecodedHealth,
  service: string,
  signal: AbortSignal,
  context: ErrorContext,
): Promise<boolean> =>
  deps.options.token === undefined &&
  answer.aclDefaultPolicy === 'deny' &&
  value.instances.length === 0 &&
  value.skipped.length === 0 &&
  (await anonymousMayRead(deps, service, signal, context)) === false;

/** The watch source of one service's instances. */
export const consulSource =
  (deps: SourceDeps, service: string, params: WatchParams): WatchSource<unknown> =>
  (): Observable<SourceEvent<number>> =>
    defer(() => {
      const registry = deps.config.url;
      const context = { registry, service };
      const query = healthQuery(params, deps, context);
      const path = `/v1/health/service/${encodeURIComponent(service)}`;
      const read: BlockingRead<DecodedHealth> = async (index, waitMs, signal, timeout) => {
        const answer = await deps.client.request({
          method: 'GET',
          path,
          searchParams: [...query, ...blockingParams(index, waitMs)],
          signal,
          timeout,
          context,
          kind: index > 0 ? 'blocking' : 'read',
        });
        const value = await decodeHealthSliced(
          answer.text,
          service,
          registry,
          deps.scheduler,
          signal,
        );
        if (
          index === 0 &&
          (await deniedWithoutToken(deps, answer, value, service, signal, context))
        ) {
          throw missingTokenError(service, context);
        }
        return { index: answer.index, value, fingerprint: fingerprintOf(value) };
      };
      return blockingQuery(read, deps.options.blocking, deps.scheduler).pipe(
        map(
          (r): SourceEvent<number> => ({
            type: 'snapshot',
            instances: r.value.instances,
            skipped: r.value.skipped,
            cursor: r.index,
          }),
        ),
      );
    });

/** The query string of registry-wide reads: the URL's `dc` and the `consistency` option. */
export const catalogParams = (
  deps: Pick<SourceDeps, 'config' | 'options'>,
): Array<[string, string]> => [
  ...(deps.config.dc === undefined ? [] : [['dc', deps.config.dc] as [string, string]]),
  ...consistencyParams(deps.options.consistency),
];

/** The watch source of the service names (`/v1/catalog/services`). */
export const consulServices =
  (deps: SourceDeps) =>
  (_resume: unknown): Observable<ServiceListEvent<number>> =>
    defer(() => {
      const registry = deps.config.url;
      const context = { registry };
      const base = catalogParams(deps);
      const read: BlockingRead<string[]> = async (index, waitMs, signal, timeout) => {
        const answer = await deps.client.request({
          method: 'GET',
          path: '/v1/catalog/services',
          searchParams: [...base, ...blockingParams(index, waitMs)],
          signal,
          timeout,
          context,
          kind: index > 0 ? 'blocking' : 'read',
        });
        const names = decodeCatalogServices(answer.text, registry);
        return { index: answer.index, value: names, fingerprint: names.join('\n') };
      };
      return blockingQuery(read, deps.options.blocking, deps.scheduler).pipe(
        map((r): ServiceListEvent<number> => ({ names: r.value, cursor: r.index })),
      );
    });

/**
 * Per-service views of the shared registry copy: each `instances(service)`
 * session maps the copy to snapshots of that application's instances,
 * only when the application's object changed (the copy shares unchanged
 * applications and holds decoded instances), reporting the ones that do
 * not decode once each, and the first view to see a registry-wide problem
 * (a copy's `notice`) reports it. The core's de-duplication then makes a service
 * stream emit only when its own set changed in effect.
 *
 * @module
 */
import { distinctUntilChanged, map, type Observable } from 'rxjs';
import type { DecodeError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import type { ServiceListEvent, SourceEvent, WatchSource } from '../../core/watch.js';
import { appName, serviceName } from './codecs.js';
import { type AppCopy, isUnusable, type RegistryCopy } from './registry-copy.js';

/** The watch source of `service` over the shared registry copy. */
export const eurekaSource =
  (copies: Observable<RegistryCopy>, service: string, _registry: string): WatchSource<unknown> =>
  () => {
    const app = appName(service);
    // The copy's instances are named after the application (`hello`); a
    // service asked for as `Hello` gets its own copies, made once each.
    const renamed = service !== serviceName(app);
    let named = new Map<Instance, Instance>();
    // The problems of the last snapshot, each reported once.
    let reported = new Set<DecodeError>();
    let reportedUnkeyed: readonly DecodeError[] | undefined;
    return copies.pipe(
      map((copy) => ({
        app: copy.apps.get(app),
        unkeyed: copy.unkeyed.get(app),
        notice: copy.notice,
      })),
      distinctUntilChanged(
        (a, b) => a.app === b.app && a.unkeyed === b.unkeyed && a.notice === b.notice,
      ),
      map(({ app: current, unkeyed, notice }): SourceEvent<unknown> => {
        const instances: Instance[] = [];
        const skipped: DecodeError[] = [];
        const seen = new Set<DecodeError>();
        const next = renamed ? new Map<Instance, Instance>() : named;
        for (const i of (current as AppCopy | undefined)?.instances.values() ?? []) {
          if (isUnusable(i)) {
            if (!reported.has(i.error)) skipped.push(i.error);
            seen.add(i.error);
          } else if (!renamed) instances.push(i);
          else {
            const own = named.get(i) ?? Object.freeze({ ...i, service });
            next.set(i, own);
            instances.push(own);
          }
        }
        reported = seen;
        named = next;
        if (unkeyed !== undefined && unkeyed !== reportedUnkeyed) skipped.push(...unkeyed);
        reportedUnkeyed = unkeyed;
        // A registry-wide problem (a hashcode that keeps mismatching): the first view reports it.
        const problem = notice?.take();
        return {
          type: 'snapshot',
          instances,
          ...(skipped.length > 0 ? { skipped } : {}),
          ...(problem === undefined ? {} : { problems: [problem] }),
        };
      }),
    );
  };

/** The service-name source: application names, lower-cased, of applications with instances. */
export const eurekaServices =
  (copies: Observable<RegistryCopy>) =>
  (_resume: unknown): Observable<ServiceListEvent<unknown>> =>
    copies.pipe(map((copy) => ({ names: [...copy.apps.keys()].map(serviceName) })));

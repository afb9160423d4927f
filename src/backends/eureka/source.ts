/**
 * Per-service views of the shared registry copy: each `instances(service)`
 * session maps the copy to snapshots of that application's instances,
 * only when the application's object changed (the copy shares unchanged
 * applications), decoding each raw instance once and reporting the ones
 * that do not decode, and the first view to see a registry-wide problem
 * (a copy's `notice`) reports it. The core's de-duplication then makes a service
 * stream emit only when its own set changed in effect.
 *
 * @module
 */
import { distinctUntilChanged, map, type Observable } from 'rxjs';
import type { Decoded } from '../../core/codecs.js';
import type { DecodeError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import type { ServiceListEvent, SourceEvent, WatchSource } from '../../core/watch.js';
import { appName, decodeInstanceInfo, serviceName } from './codecs.js';
import type { AppCopy, RegistryCopy } from './registry-copy.js';

/** The watch source of `service` over the shared registry copy. */
export const eurekaSource =
  (copies: Observable<RegistryCopy>, service: string, registry: string): WatchSource<unknown> =>
  () => {
    const app = appName(service);
    // raw InstanceInfo object -> its decoding, for the instances of the last snapshot
    let decoded = new Map<unknown, Decoded<Instance>>();
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
        const next = new Map<unknown, Decoded<Instance>>();
        const instances: Instance[] = [];
        const skipped: DecodeError[] = [];
        for (const i of (current as AppCopy | undefined)?.instances.values() ?? []) {
          // An instance the copy did not keep is known by its error, reported once.
          const at = i.error ?? i.raw;
          let d = decoded.get(at);
          if (d === undefined) {
            d =
              i.error === undefined
                ? decodeInstanceInfo(i.raw, service, registry)
                : { ok: false, error: i.error };
            if (!d.ok) skipped.push(d.error);
          }
          next.set(at, d);
          if (d.ok) instances.push(d.value);
        }
        decoded = next;
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

/**
 * The gateway's reading of a request target: `/<service>/<rest>?<query>`
 * becomes the service and the path to send to one of its instances, or a
 * reason to refuse it (400) before anything is forwarded.
 *
 * @module
 */
import { isServiceName } from '../core/instance.js';

/** A request target the gateway routes, or refuses. */
export type Target =
  | {
      readonly kind: 'service';
      readonly service: string;
      /** `/<rest>?<query>` as the client wrote it (not decoded, not normalised). */
      readonly path: string;
    }
  /** `/-/...`: the gateway's own pages. */
  | { readonly kind: 'own'; readonly path: string }
  /** `/` or `/?...`: no service named. */
  | { readonly kind: 'none' }
  | { readonly kind: 'refused'; readonly reason: string };

const refused = (reason: string): Target => ({ kind: 'refused', reason });

/** A `.` or `..` segment, written as is or percent-encoded (`%2e`, `%2E`). */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

/**
 * Reads a request target (`req.url`, the origin form of the request line).
 *
 * Refused: anything but the origin form (`http://...`, `*`), a dot segment
 * (`.`, `..`, `%2e%2e`) anywhere in the path, and a service segment with a
 * percent-encoded octet (an encoded `/` or `\`, or anything else: service
 * names have no character that needs encoding) or that is not a service
 * name.
 *
 * @example
 * ```ts
 * readTarget('/users/42?full=1'); // { kind: 'service', service: 'users', path: '/42?full=1' }
 * readTarget('/..%2fadmin/x');    // { kind: 'refused', reason: '...' }
 * ```
 */
export const readTarget = (url: string): Target => {
  if (!url.startsWith('/')) return refused('the request target must be a path (origin form)');
  const q = url.indexOf('?');
  const pathname = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  if (DOT_SEGMENT.test(pathname)) return refused('the path has a dot segment (. or ..)');
  const slash = pathname.indexOf('/', 1);
  const segment = slash < 0 ? pathname.slice(1) : pathname.slice(1, slash);
  const rest = slash < 0 ? '/' : pathname.slice(slash);
  if (segment === '') return { kind: 'none' };
  if (segment === '-') return { kind: 'own', path: rest };
  if (segment.includes('%')) {
    return refused('the service segment has a percent-encoded character (an encoded / or ..)');
  }
  if (segment.includes('\\')) return refused('the service segment has a backslash');
  if (!isServiceName(segment)) return refused(`'${segment}' is not a service name`);
  return { kind: 'service', service: segment, path: rest + query };
};

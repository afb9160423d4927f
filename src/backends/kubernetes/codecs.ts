/**
 * The io-ts codecs of what the backend reads (`discovery.k8s.io/v1`
 * EndpointSlices, as the EndpointSlice controller writes them) and the
 * mapping of a slice to instances: one per endpoint address on the chosen
 * port, its status from the endpoint's conditions, its zone, its node, Pod
 * and zone hints in metadata, an id stable across updates.
 *
 * Status: `ready` (or no conditions: Kubernetes says nil means ready) is UP;
 * not ready but `serving` and `terminating` is OUT_OF_SERVICE (draining:
 * not picked by `healthy()`, still shown); terminating and not serving is
 * DOWN; not ready and not terminating (starting, or failing its readiness
 * probe) is STARTING.
 *
 * @module
 */
import * as t from 'io-ts';
import { decode } from '../../core/codecs.js';
import { ConfigError, type DecodeError, type ErrorContext } from '../../core/errors.js';
import {
  freezeInstance,
  type Instance,
  type InstanceStatus,
  isHost,
  isPort,
} from '../../core/instance.js';
import type { Interner } from '../../core/intern.js';
import { formatHostPort } from '../../core/url.js';
import { isManaged, managedRecord } from './managed.js';

const Port = t.refinement(t.number, isPort, 'Port');
const Address = t.refinement(t.string, isHost, 'Address');
const optional = <C extends t.Mixed>(c: C) => t.union([c, t.null, t.undefined]);

/** One endpoint of a slice. */
export const SliceEndpoint = t.intersection([
  t.type({ addresses: t.array(Address) }),
  t.partial({
    conditions: optional(
      t.partial({
        ready: optional(t.boolean),
        serving: optional(t.boolean),
        terminating: optional(t.boolean),
      }),
    ),
    hostname: optional(t.string),
    nodeName: optional(t.string),
    zone: optional(t.string),
    targetRef: optional(
      t.partial({ kind: t.string, name: t.string, namespace: t.string, uid: t.string }),
    ),
    hints: optional(t.partial({ forZones: optional(t.array(t.type({ name: t.string }))) })),
  }),
]);

/**
 * One port of a slice. Kubernetes lets a port leave out its number ("all
 * ports"); rxdisco needs one to make `host:port`, so such a slice is
 * skipped and reported.
 */
export const SlicePort = t.intersection([
  t.type({ port: Port }),
  t.partial({
    name: optional(t.string),
    protocol: optional(t.string),
    appProtocol: optional(t.string),
  }),
]);

/** A `discovery.k8s.io/v1` EndpointSlice (the fields rxdisco reads). */
export const EndpointSlice = t.intersection([
  t.type({
    metadata: t.intersection([
      t.type({ name: t.string }),
      t.partial({
        namespace: t.string,
        resourceVersion: t.string,
        labels: optional(t.record(t.string, t.string)),
        annotations: optional(t.record(t.string, t.string)),
      }),
    ]),
    addressType: t.keyof({ IPv4: null, IPv6: null, FQDN: null }),
  }),
  t.partial({
    endpoints: optional(t.array(SliceEndpoint)),
    ports: optional(t.array(SlicePort)),
  }),
]);

/** A decoded EndpointSlice. */
export type EndpointSlice = t.TypeOf<typeof EndpointSlice>;
type Endpoint = t.TypeOf<typeof SliceEndpoint>;
type SlicePortT = t.TypeOf<typeof SlicePort>;

/** The status of an endpoint from its conditions. */
export const endpointStatus = (conditions: Endpoint['conditions']): InstanceStatus => {
  const ready = conditions?.ready ?? true;
  if (ready) return 'UP';
  const terminating = conditions?.terminating ?? false;
  if (terminating) return (conditions?.serving ?? false) ? 'OUT_OF_SERVICE' : 'DOWN';
  return 'STARTING';
};

const portLabel = (p: SlicePortT): string =>
  p.name !== undefined && p.name !== null && p.name !== '' ? p.name : String(p.port);

/**
 * The port of a slice that `wanted` names (a port name, or a number), or
 * the only one. A slice without ports has none to offer (undefined).
 *
 * @throws {ConfigError} naming `params.port` when the slice has several
 *   ports and none was asked, or none of its ports is the one asked.
 */
export const pickPort = (
  ports: readonly SlicePortT[],
  wanted: string | undefined,
  context: ErrorContext,
): SlicePortT | undefined => {
  const usable = ports;
  if (usable.length === 0) return undefined;
  const names = usable.map(portLabel).join(', ');
  if (wanted === undefined) {
    if (usable.length === 1) return usable[0];
    throw new ConfigError(
      'params.port',
      `must name one of the Service's ports (it has ${names})`,
      `pass instances$(service, { port: '${portLabel(usable[0]!)}' })`,
      context,
    );
  }
  const found = usable.find((p) => p.name === wanted || String(p.port) === wanted);
  if (found !== undefined) return found;
  throw new ConfigError(
    'params.port',
    `'${wanted}' is not a port of the Service (it has ${names})`,
    'pass one of those names',
    context,
  );
};

const NO_TAGS: readonly string[] = Object.freeze([]);

const secureName = (s: string | null | undefined): boolean =>
  s === 'https' || s === 'grpcs' || s === 'tls' || (s ?? '').startsWith('https-');

/** What one slice gives: its instances, or why it gives none. */
export type SliceInstances =
  | {
      readonly ok: true;
      readonly name: string;
      readonly instances: readonly Instance[];
      /**
       * In a slice rxdisco manages: when each registered instance's renewal
       * runs out (by id); past it the instance shows DOWN.
       */
      readonly expiries?: ReadonlyMap<string, number>;
      /** Endpoints skipped (an rxdisco annotation that does not decode), reported. */
      readonly skipped?: readonly DecodeError[];
    }
  | { readonly ok: false; readonly name: string | undefined; readonly error: DecodeError };

/**
 * Decodes one slice object and maps it to instances of `service`. In a
 * slice managed by rxdisco, an endpoint with its annotation takes the id,
 * tags, weight and metadata registered, and its expiry is returned. With
 * `intern`, the strings that repeat across endpoints (zones, nodes) are
 * shared (not the metadata maps: each holds its own Pod's name).
 *
 * @throws {ConfigError} from {@link pickPort} (a permanent fault of the watch).
 */
export const sliceInstances = (
  value: unknown,
  service: string,
  wantedPort: string | undefined,
  registry: string,
  intern?: Interner,
): SliceInstances => {
  const context: ErrorContext = { registry, service };
  const rawName = (value as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  const key = `endpointslice ${typeof rawName === 'string' ? rawName : '?'}`;
  const d = decode(EndpointSlice, value, key, context);
  if (!d.ok) {
    return { ok: false, name: typeof rawName === 'string' ? rawName : undefined, error: d.error };
  }
  const slice = d.value;
  const port = pickPort(slice.ports ?? [], wantedPort, context);
  const name = slice.metadata.name;
  if (port === undefined) return { ok: true, name, instances: [] };
  const secure = secureName(port.name) || secureName(port.appProtocol);
  const managed = isManaged(slice.metadata.labels);
  const annotations = slice.metadata.annotations;
  const instances: Instance[] = [];
  const expiries = new Map<string, number>();
  const skipped: DecodeError[] = [];
  for (const e of slice.endpoints ?? []) {
    const ref = e.targetRef?.name ?? e.targetRef?.uid;
    const status = endpointStatus(e.conditions);
    const metadata: Record<string, string> = { addressType: slice.addressType };
    if (e.nodeName) metadata.nodeName = intern?.string(e.nodeName) ?? e.nodeName;
    if (e.hostname) metadata.hostname = e.hostname;
    if (e.targetRef?.kind === 'Pod' && e.targetRef.name !== undefined)
      metadata.pod = e.targetRef.name;
    const zones = e.hints?.forZones;
    if (zones && zones.length > 0) metadata.forZones = zones.map((z) => z.name).join(',');
    const single = e.addresses.length === 1;
    const shared = Object.freeze(metadata);
    const zone = e.zone == null ? undefined : (intern?.string(e.zone) ?? e.zone);
    for (const host of e.addresses) {
      const own = managed ? managedRecord(annotations, host, key, context) : undefined;
      if (own !== undefined && !own.ok) {
        skipped.push(own.error);
        continue;
      }
      const record = own?.value;
      const id =
        record !== undefined
          ? record.id
          : ref === undefined
            ? formatHostPort(host, port.port)
            : single
              ? slice.addressType === 'IPv6'
                ? `${ref}/IPv6`
                : ref
              : `${ref}/${host}`;
      if (record !== undefined) expiries.set(id, record.renewedAt + record.ttlMs);
      const tags =
        record?.tags === undefined || record.tags.length === 0
          ? NO_TAGS
          : Object.freeze([...new Set(record.tags)].sort());
      const meta =
        record?.metadata === undefined
          ? shared
          : Object.freeze({ ...record.metadata, ...metadata });
      const weight = record?.weight ?? 1;
      // Whole literals in freezeInstance's field order (one shape for every instance, no
      // spread copies): about 100 B less per instance than freezeInstance's copies.
      instances.push(
        Object.freeze(
          zone === undefined
            ? {
                id,
                service,
                host,
                port: port.port,
                secure,
                status,
                weight,
                tags,
                metadata: meta,
                registry,
              }
            : {
                id,
                service,
                host,
                port: port.port,
                secure,
                status,
                weight,
                zone,
                tags,
                metadata: meta,
                registry,
              },
        ),
      );
    }
  }
  return {
    ok: true,
    name,
    instances,
    ...(expiries.size > 0 ? { expiries } : {}),
    ...(skipped.length > 0 ? { skipped } : {}),
  };
};

/** What a source keeps of one slice. */
export interface SliceEntry {
  readonly instances: readonly Instance[];
  /** Expiry of each rxdisco-registered instance, by id (see {@link SliceInstances}). */
  readonly expiries?: ReadonlyMap<string, number>;
}

/** The earliest expiry after `now` among `entries`, if any. */
export const nextExpiry = (entries: Iterable<SliceEntry>, now: number): number | undefined => {
  let next: number | undefined;
  for (const e of entries) {
    if (e.expiries === undefined) continue;
    for (const at of e.expiries.values()) {
      if (at > now && (next === undefined || at < next)) next = at;
    }
  }
  return next;
};

const RANK: Readonly<Record<InstanceStatus, number>> = {
  UP: 0,
  OUT_OF_SERVICE: 1,
  STARTING: 2,
  DOWN: 3,
  UNKNOWN: 4,
};

/**
 * The instances of several slices merged: an endpoint listed in two slices
 * (while the controller moves it) once, its best status kept. An
 * rxdisco-registered instance whose renewal ran out by `now` is DOWN.
 */
export const mergeSlices = (
  slices: ReadonlyMap<string, SliceEntry>,
  now: number = Date.now(),
): Instance[] => {
  const byId = new Map<string, Instance>();
  for (const name of [...slices.keys()].sort()) {
    const entry = slices.get(name);
    for (const found of entry?.instances ?? []) {
      const at = entry?.expiries?.get(found.id);
      const i =
        at !== undefined && at <= now && found.status !== 'DOWN'
          ? freezeInstance({ ...found, status: 'DOWN' })
          : found;
      const had = byId.get(i.id);
      if (had === undefined || RANK[i.status] < RANK[had.status]) byId.set(i.id, i);
    }
  }
  return [...byId.values()];
};

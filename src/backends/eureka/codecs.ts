/**
 * Eureka's JSON wire format, decoded with io-ts through the core seam
 * (`decode`), and the InstanceInfo rxdisco writes. Eureka's JSON is the
 * XML model in disguise: ports are `{"$": 8080, "@enabled": "true"}`, a
 * single application or instance may come as an object instead of an
 * array, metadata carries an `@class` marker. All of that stays here.
 *
 * @module
 */
import * as t from 'io-ts';
import {
  admitInstance,
  type Decoded,
  decode,
  ENTRY_LIMITS,
  type InstanceDraft,
  type InstancePaths,
  Status,
  StringMap,
  setEntry,
  struct,
} from '../../core/codecs.js';
import { DecodeError, type ErrorContext } from '../../core/errors.js';
import type { Instance, InstanceStatus } from '../../core/instance.js';
import { Interner } from '../../core/intern.js';

/** The Eureka application name of a service: `hello` -> `HELLO`. */
export const appName = (service: string): string => service.toUpperCase();

/** The service name rxdisco lists for an application: `HELLO` -> `hello`. */
export const serviceName = (app: string): string => app.toLowerCase();

/** A value or an array of them (Eureka drops the array around a single element). */
const oneOrMany = <C extends t.Mixed>(codec: C, name: string) =>
  t.union([t.array(codec), codec], name);

/** Flattens what {@link oneOrMany} decoded. */
export const asArray = <A>(v: A | readonly A[] | undefined): readonly A[] =>
  v === undefined ? [] : Array.isArray(v) ? (v as readonly A[]) : [v as A];

const IntegerString = new t.Type<number, string, unknown>(
  'IntegerString',
  (u): u is number => typeof u === 'number',
  (u, c) => (typeof u === 'string' && /^-?\d+$/.test(u) ? t.success(Number(u)) : t.failure(u, c)),
  String,
);

const Flag = t.union([t.literal('true'), t.literal('false'), t.boolean], 'Flag');

/** `{"$": 8080, "@enabled": "true"}`, or a bare port number as some clients write it. */
const PortInfo = t.union(
  [struct({ $: t.union([t.Int, IntegerString]) }, { '@enabled': Flag }), t.Int],
  'PortInfo',
);

/** Enough of an instance to key it in the registry copy and count it in the hashcode. */
export const InstanceKey = struct(
  { instanceId: t.string },
  { status: t.string, actionType: t.string, app: t.string },
  'InstanceKey',
);
export type InstanceKey = t.TypeOf<typeof InstanceKey>;

/** The InstanceInfo fields rxdisco reads. Unknown fields are ignored. */
export const InstanceInfo = struct(
  { instanceId: t.string, hostName: t.string, status: Status, port: PortInfo },
  {
    app: t.string,
    ipAddr: t.string,
    overriddenStatus: Status,
    securePort: PortInfo,
    metadata: StringMap,
    dataCenterInfo: struct({}, { name: t.string }),
    leaseInfo: struct({}, { renewalIntervalInSecs: t.number, durationInSecs: t.number }),
    lastDirtyTimestamp: t.union([t.string, t.number]),
    vipAddress: t.string,
    homePageUrl: t.string,
  },
  'InstanceInfo',
);
export type InstanceInfo = t.TypeOf<typeof InstanceInfo>;

const Application = struct(
  { name: t.string },
  { instance: oneOrMany(t.unknown, 'Instances') },
  'Application',
);

/** The body of `GET /eureka/apps` and `GET /eureka/apps/delta`. */
export const Applications = struct(
  {
    applications: struct(
      {},
      {
        apps__hashcode: t.string,
        versions__delta: t.union([t.string, t.number]),
        application: oneOrMany(Application, 'Applications'),
      },
    ),
  },
  {},
  'Applications',
);

/** One application of a decoded registry payload; instances still raw. */
export interface RawApplication {
  readonly name: string;
  readonly instances: readonly unknown[];
}

/** A decoded `/apps` or `/apps/delta` body. */
export interface RawApplications {
  /** `apps__hashcode` (`"DOWN_1_UP_3_"`), when the server sent one. */
  readonly hashcode: string | undefined;
  readonly apps: readonly RawApplication[];
}

/** Decodes the envelope of a registry payload; instances are decoded one by one later. */
export const decodeApplications = (
  body: unknown,
  key: string,
  context: ErrorContext,
): Decoded<RawApplications> => {
  const d = decode(Applications, body, key, context);
  if (!d.ok) return d;
  const a = d.value.applications;
  return {
    ok: true,
    value: {
      hashcode: a.apps__hashcode,
      apps: asArray(a.application).map((app) => ({
        name: app.name,
        instances: asArray(app.instance),
      })),
    },
  };
};

/**
 * Decodes the id, status and action of one raw instance. An instance nested
 * deeper or larger than {@link ENTRY_LIMITS} does not decode (it is not kept).
 */
export const decodeKey = (raw: unknown, key: string, context: ErrorContext): Decoded<InstanceKey> =>
  decode(InstanceKey, raw, key, context, ENTRY_LIMITS);

const portOf = (p: t.TypeOf<typeof PortInfo>): { port: number; enabled: boolean | undefined } =>
  typeof p === 'number'
    ? { port: p, enabled: undefined }
    : {
        port: p.$,
        enabled: p['@enabled'] === undefined ? undefined : String(p['@enabled']) === 'true',
      };

/** Where the fields of an instance come from in an InstanceInfo. */
const PATHS: InstancePaths = {
  id: 'instanceId',
  service: 'app',
  host: 'hostName',
  port: 'port.$',
  weight: 'weight',
  tags: 'tags',
  zone: 'metadata.zone',
};
const SECURE_PATHS: InstancePaths = { ...PATHS, port: 'securePort.$' };

/**
 * Decodes one raw InstanceInfo into an {@link Instance} of `service`,
 * through the core's `admitInstance` (the rules of every Instance: a host
 * with a space, an id over 512 characters or a blank zone is a
 * {@link DecodeError} naming the field).
 * The port is `securePort` when its `@enabled` is true (and `port` is not
 * enabled), else `port`; the host is `hostName`, or `ipAddr` when it is
 * blank; metadata loses Eureka's `@class` marker (and
 * keeps every other key as data, `__proto__` included); a
 * `zone` metadata entry (Spring Cloud's convention) becomes the zone.
 *
 * @param intern - shares repeated values among the instances of one answer.
 */
export const decodeInstanceInfo = (
  raw: unknown,
  service: string,
  registry: string,
  intern: Interner = new Interner(),
): Decoded<Instance> => {
  const app = appName(service);
  const id =
    typeof raw === 'object' &&
    raw !== null &&
    typeof (raw as { instanceId?: unknown }).instanceId === 'string'
      ? (raw as { instanceId: string }).instanceId
      : '?';
  const key = `${app}/${id}`;
  const context = { registry, service };
  const d = decode(InstanceInfo, raw, key, context, ENTRY_LIMITS);
  if (!d.ok) return d;
  const info = d.value;
  const plain = portOf(info.port);
  const secure = info.securePort === undefined ? undefined : portOf(info.securePort);
  const useSecure = secure?.enabled === true && plain.enabled !== true;
  const port = useSecure ? secure!.port : plain.port;
  const host = info.hostName.trim() === '' ? (info.ipAddr ?? '') : info.hostName;
  const metadata: Record<string, string> = {};
  const meta = info.metadata;
  // setEntry: a `__proto__` key stays data, as everywhere else.
  if (meta !== undefined) for (const k in meta) if (k !== '@class') setEntry(metadata, k, meta[k]!);
  const zone = metadata.zone;
  const shared = intern.metadata(metadata);
  const status = intern.string(info.status) as InstanceStatus;
  const draft: InstanceDraft =
    zone === undefined || zone === ''
      ? {
          id: info.instanceId,
          service,
          host,
          port,
          secure: useSecure,
          status,
          weight: 1,
          tags: NO_TAGS,
          metadata: shared,
          registry,
        }
      : {
          id: info.instanceId,
          service,
          host,
          port,
          secure: useSecure,
          status,
          weight: 1,
          zone: intern.string(zone),
          tags: NO_TAGS,
          metadata: shared,
          registry,
        };
  const r = admitInstance(draft, key, context, useSecure ? SECURE_PATHS : PATHS);
  return r instanceof DecodeError ? { ok: false, error: r } : { ok: true, value: r };
};

const NO_TAGS: readonly string[] = Object.freeze([]);

/**
 * Eureka's reconcile hashcode of a registry: the count of instances per
 * status, statuses in alphabetical order, as `STATUS_count_` (`DOWN_1_UP_3_`).
 */
export const reconcileHashcode = (statuses: Iterable<string>): string => {
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return hashcodeOfCounts(counts);
};

/** {@link reconcileHashcode} from the count of instances per status (internal). */
export const hashcodeOfCounts = (counts: ReadonlyMap<string, number>): string =>
  [...counts.keys()]
    .sort()
    .map((s) => `${s}_${counts.get(s)}_`)
    .join('');

/** URLs of an instance's pages, as Spring Boot apps publish them. */
export interface InstancePages {
  readonly homePageUrl?: string;
  readonly statusPageUrl?: string;
  readonly healthCheckUrl?: string;
}

/** What a registration sends besides the instance. */
export interface InstanceInfoExtras {
  /** Seconds without heartbeat before Eureka evicts the instance. */
  readonly durationInSecs: number;
  /** Seconds between heartbeats, as the client announces it. */
  readonly renewalIntervalInSecs: number;
  /** The status to register with (the instance's, or one set with `setEurekaStatus`). */
  readonly status?: EurekaStatus;
  readonly pages?: InstancePages;
  /** `lastDirtyTimestamp`, ms since the epoch. */
  readonly dirtyAt: number;
}

/** The statuses an instance can announce to Eureka. */
export type EurekaStatus = Exclude<InstanceStatus, 'UNKNOWN'>;

/**
 * The complete InstanceInfo that registers `instance`, shaped like what a
 * Spring Cloud Netflix client sends: app and vipAddress from the service,
 * `MyOwn` data center, lease info from the TTL, the port enabled (or the
 * secure port, for a secure instance), metadata with the zone.
 */
export const encodeInstanceInfo = (instance: Instance, extras: InstanceInfoExtras) => {
  const app = appName(instance.service);
  const metadata: Record<string, string> = { ...instance.metadata };
  if (instance.zone !== undefined) metadata.zone = instance.zone;
  return {
    instance: {
      instanceId: instance.id,
      app,
      appGroupName: null,
      hostName: instance.host,
      ipAddr: instance.host,
      sid: 'na',
      status: extras.status ?? instance.status,
      overriddenStatus: 'UNKNOWN',
      port: { $: instance.secure ? 80 : instance.port, '@enabled': String(!instance.secure) },
      securePort: { $: instance.secure ? instance.port : 443, '@enabled': String(instance.secure) },
      countryId: 1,
      dataCenterInfo: {
        '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo',
        name: 'MyOwn',
      },
      leaseInfo: {
        renewalIntervalInSecs: extras.renewalIntervalInSecs,
        durationInSecs: extras.durationInSecs,
      },
      metadata,
      vipAddress: instance.service,
      secureVipAddress: instance.service,
      isCoordinatingDiscoveryServer: 'false',
      lastUpdatedTimestamp: String(extras.dirtyAt),
      lastDirtyTimestamp: String(extras.dirtyAt),
      ...(extras.pages?.homePageUrl === undefined ? {} : { homePageUrl: extras.pages.homePageUrl }),
      ...(extras.pages?.statusPageUrl === undefined
        ? {}
        : { statusPageUrl: extras.pages.statusPageUrl }),
      ...(extras.pages?.healthCheckUrl === undefined
        ? {}
        : { healthCheckUrl: extras.pages.healthCheckUrl }),
    },
  };
};

/**
 * The etcd wire formats, decoded with io-ts (the backend's one seam): the
 * layout of a value is detected per key, so one prefix may mix rxdisco's
 * JSON records, go-kit `sd/etcdv3` plain addresses and go-micro services.
 *
 * Every layout keeps an instance under `<prefix><service>/<suffix>`, and the
 * instance id is the key suffix: a deletion (which carries no value) removes
 * the instance whose id is its key suffix, whatever layout it had.
 *
 * @module
 */
import * as t from 'io-ts';
import {
  admitInstance,
  type Decoded,
  decode,
  decodeJson,
  decodeKeyedInstance,
  ENTRY_LIMITS,
  type InstanceDraft,
  type InstancePaths,
  InstanceRecord,
  StringMap,
  struct,
  toRecord,
} from '../../core/codecs.js';
import { DecodeError } from '../../core/errors.js';
import { type Instance, isLabel } from '../../core/instance.js';
import type { Interner } from '../../core/intern.js';
import { formatHostPort } from '../../core/url.js';
import type { EtcdFormat } from './url.js';

/** An address as go-kit writes it: `10.0.0.1:8080`, `host:8080`, `http://10.0.0.1:8080`, `[::1]:80`. */
export interface Address {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
}

const ADDRESS =
  /^(?:([a-z][a-z0-9+.-]*):\/\/)?(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._~%-]+))(?::(\d{1,5}))?\/?$/;
const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443 };
const SECURE_SCHEMES = new Set(['https', 'grpcs', 'wss']);

const parseAddress = (s: string): Address | undefined => {
  const m = ADDRESS.exec(s.trim());
  if (m === null) return undefined;
  const scheme = m[1]?.toLowerCase();
  const host = (m[2] ?? m[3])!;
  const port = m[4] === undefined ? (scheme ? DEFAULT_PORTS[scheme] : undefined) : Number(m[4]);
  if (port === undefined || port < 1 || port > 65535) return undefined;
  return { host, port, secure: scheme !== undefined && SECURE_SCHEMES.has(scheme) };
};

/** A `host:port` or `scheme://host[:port]` string, decoded into an {@link Address}. */
export const AddressString = new t.Type<Address, string, unknown>(
  'Address(host:port or scheme://host:port)',
  (u): u is Address =>
    typeof u === 'object' && u !== null && 'host' in u && 'port' in u && 'secure' in u,
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c);
    const a = parseAddress(u);
    return a === undefined ? t.failure(u, c) : t.success(a);
  },
  (a) => formatHostPort(a.host, a.port),
);

/** One node of a go-micro service (`address` is `host:port`; go-micro v1 had a separate `port`). */
export const GoMicroNode = struct(
  { id: t.string, address: t.string },
  { port: t.number, metadata: StringMap },
  'GoMicroNode',
);

/** A go-micro registry service, as its etcd registry stores one node of it per key. */
export const GoMicroService = struct(
  { name: t.string, nodes: t.array(GoMicroNode) },
  { version: t.string, metadata: StringMap, endpoints: t.array(t.unknown) },
  'GoMicroService',
);

/**
 * An endpoint as grpc-go's `go.etcd.io/etcd/client/v3/naming/endpoints`
 * writes it under `<target>/<key>`: `{"Op":0,"Addr":"10.0.0.1:50051","Metadata":...}`.
 * Its reader ignores `Op` (a put is an add), and so does rxdisco.
 */
export const GrpcEndpoint = struct(
  { Addr: t.string },
  { Op: t.number, Metadata: t.unknown },
  'GrpcEndpoint',
);

/** The metadata key of a grpc-go endpoint's `Metadata` that is not a map of strings (its JSON text). */
export const GRPC_METADATA_KEY = 'grpc.metadata';

const grpcMetadata = (m: unknown): Record<string, string> => {
  if (m === undefined || m === null) return {};
  if (typeof m === 'object' && !Array.isArray(m)) {
    const entries = Object.entries(m);
    if (entries.every(([, v]) => typeof v === 'string')) {
      const out: Record<string, string> = {};
      for (const [k, v] of entries) {
        Object.defineProperty(out, k, {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
  }
  // Not a string map: kept whole, as its JSON text, never coerced field by field.
  return { [GRPC_METADATA_KEY]: JSON.stringify(m) };
};

const parseOr = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

const decodeGrpc = (
  entry: EntryKey,
  value: unknown,
  registry: string,
  context: { registry: string; service: string },
): Decoded<Instance> => {
  const d = decode(GrpcEndpoint, value, entry.key, context);
  if (!d.ok) return d;
  const a = decode(AddressString, d.value.Addr, entry.key, context);
  if (!a.ok) {
    return {
      ok: false,
      error: new DecodeError(
        entry.key,
        a.error.problems.map((p) => `Addr${p.slice(p.indexOf(':'))}`),
        context,
      ),
    };
  }
  return fromAddress(entry, a.value, registry, grpcMetadata(d.value.Metadata));
};

/** Where an entry lives: its full key, the service and the key suffix (the instance id). */
export interface EntryKey {
  readonly key: string;
  readonly service: string;
  readonly id: string;
}

/**
 * Splits `<prefix><service>/<id>` into service and id; `undefined` for keys
 * that are not instance keys (no service segment or no id).
 */
export const parseKey = (prefix: string, key: string): EntryKey | undefined => {
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { key, service: rest.slice(0, slash), id: rest.slice(slash + 1) };
};

/** The key of an instance in `prefix`. */
export const instanceKey = (prefix: string, service: string, id: string): string =>
  `${prefix}${service}/${id}`;

/** The service-name segment of a key under `prefix`, if any. */
export const serviceOfKey = (prefix: string, key: string): string | undefined => {
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  return slash <= 0 ? undefined : rest.slice(0, slash);
};

/** Where the fields of a go-kit or go-micro instance come from: the key, and the address. */
const PATHS: InstancePaths = {
  id: '(key: the instance id)',
  service: '(key: the service)',
  host: '(value: the address host)',
  port: '(value: the address port)',
  weight: 'weight',
  tags: 'tags',
  zone: 'metadata.zone',
};

const NO_TAGS: readonly string[] = Object.freeze([]);
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

/** An instance of a go-kit or go-micro entry, through the core's `admitInstance`. */
const fromAddress = (
  entry: EntryKey,
  a: Address,
  registry: string,
  metadata: Record<string, string> = NO_METADATA,
  zone: string | undefined = undefined,
): Decoded<Instance> => {
  // Whole literals: an object built by spreading another one freezes into a slow, large one.
  const draft: InstanceDraft =
    zone === undefined
      ? {
          id: entry.id,
          service: entry.service,
          host: a.host,
          port: a.port,
          secure: a.secure,
          status: 'UP',
          weight: 1,
          tags: NO_TAGS,
          metadata,
          registry,
        }
      : {
          id: entry.id,
          service: entry.service,
          host: a.host,
          port: a.port,
          secure: a.secure,
          status: 'UP',
          weight: 1,
          zone,
          tags: NO_TAGS,
          metadata,
          registry,
        };
  const r = admitInstance(draft, entry.key, { registry, service: entry.service }, PATHS);
  return r instanceof DecodeError ? { ok: false, error: r } : { ok: true, value: r };
};

const decodeGoMicro = (
  entry: EntryKey,
  value: unknown,
  registry: string,
  context: { registry: string; service: string },
): Decoded<Instance> => {
  const d = decode(GoMicroService, value, entry.key, context);
  if (!d.ok) return d;
  const svc = d.value;
  const sanitize = (s: string): string => s.replaceAll('/', '-');
  const node =
    svc.nodes.find((n) => sanitize(n.id) === entry.id) ??
    (svc.nodes.length === 1 ? svc.nodes[0] : undefined);
  if (node === undefined) {
    return {
      ok: false,
      error: new DecodeError(
        entry.key,
        [
          `nodes: expected the node ${JSON.stringify(entry.id)} (the key), got ${svc.nodes.length} other nodes`,
        ],
        context,
      ),
    };
  }
  const address =
    node.port !== undefined && parseAddress(node.address) === undefined
      ? `${node.address}:${node.port}`
      : node.address;
  const a = decode(AddressString, address, entry.key, context);
  if (!a.ok) {
    return {
      ok: false,
      error: new DecodeError(
        entry.key,
        a.error.problems.map(
          (p) => `nodes.${svc.nodes.indexOf(node)}.address${p.slice(p.indexOf(':'))}`,
        ),
        context,
      ),
    };
  }
  const metadata: Record<string, string> = { ...(svc.metadata ?? {}), ...(node.metadata ?? {}) };
  if (svc.version !== undefined && metadata.version === undefined) metadata.version = svc.version;
  const secure = a.value.secure || metadata.secure === 'true';
  // go-micro has no zone field: rxdisco writes it in the node metadata (as Consul's Meta does).
  const zone = metadata.zone !== undefined && isLabel(metadata.zone) ? metadata.zone : undefined;
  return fromAddress(entry, { ...a.value, secure }, registry, metadata, zone);
};

/**
 * Decodes the value of one instance key, detecting its layout: a JSON object
 * with `nodes` is a go-micro service, one with `Addr` a grpc-go
 * `naming/endpoints` endpoint, any other JSON object an rxdisco
 * {@link InstanceRecord}, anything else a go-kit plain address. A value
 * longer or nested deeper than {@link ENTRY_LIMITS} is a {@link DecodeError}
 * (never parsed past the limit, never thrown). With `intern` (one per watch
 * session), the tags, metadata and zones of JSON records are shared with
 * equal ones decoded before.
 */
export const decodeEntry = (
  entry: EntryKey,
  value: string,
  registry: string,
  intern?: Interner,
): Decoded<Instance> => {
  const context = { registry, service: entry.service };
  const text = value.trim();
  if (text.startsWith('{')) {
    const json = decodeJson(t.UnknownRecord, text, entry.key, context, ENTRY_LIMITS);
    if (!json.ok) return json;
    if ('nodes' in json.value) return decodeGoMicro(entry, json.value, registry, context);
    if ('Addr' in json.value) return decodeGrpc(entry, json.value, registry, context);
    return decodeKeyedInstance(json.value, entry, registry, intern);
  }
  const a = decode(AddressString, text, entry.key, context, ENTRY_LIMITS);
  return a.ok ? fromAddress(entry, a.value, registry) : a;
};

/** The value rxdisco writes for `instance` in `format`. */
export const encodeEntry = (instance: Instance, format: EtcdFormat): string => {
  const address = AddressString.encode(instance);
  switch (format) {
    case 'json':
      return JSON.stringify(toRecord(instance));
    case 'gokit':
      return instance.secure ? `https://${address}` : address;
    case 'grpc': {
      // what grpc-go's endpoints.Manager writes (Op 0 = Add); its resolver reads Addr and Metadata
      const { [GRPC_METADATA_KEY]: raw, ...rest } = instance.metadata;
      const metadata =
        Object.keys(rest).length > 0 ? rest : raw !== undefined ? parseOr(raw) : null;
      return JSON.stringify({ Op: 0, Addr: address, Metadata: metadata });
    }
    case 'gomicro': {
      const { version, ...rest } = instance.metadata;
      return JSON.stringify({
        name: instance.service,
        version: version ?? 'latest',
        metadata: null,
        endpoints: [],
        nodes: [
          {
            id: instance.id,
            address,
            metadata: {
              ...rest,
              ...(instance.zone === undefined ? {} : { zone: instance.zone }),
              ...(instance.secure ? { secure: 'true' } : {}),
            },
          },
        ],
      });
    }
  }
};

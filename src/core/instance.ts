import { ConfigError, type ErrorContext } from './errors.js';
import { formatHostPort } from './url.js';

/** The health of an instance as its registry reports it. */
export type InstanceStatus = 'UP' | 'DOWN' | 'STARTING' | 'OUT_OF_SERVICE' | 'UNKNOWN';

/** Every {@link InstanceStatus}, in a stable order. */
export const INSTANCE_STATUSES: readonly InstanceStatus[] = Object.freeze([
  'UP',
  'DOWN',
  'STARTING',
  'OUT_OF_SERVICE',
  'UNKNOWN',
]);

/**
 * One live instance of a service, as a registry lists it. Immutable (frozen).
 */
export interface Instance {
  /** Unique per service within one registry. */
  readonly id: string;
  /** The service name (`hello`). */
  readonly service: string;
  /** Host name or IP address; never empty. */
  readonly host: string;
  /** TCP port, 1 to 65535. */
  readonly port: number;
  /** True when the instance speaks TLS (https). */
  readonly secure: boolean;
  /** Health as the registry reports it. */
  readonly status: InstanceStatus;
  /** Relative share of traffic for weighted balancers; 0 means none. Default 1. */
  readonly weight: number;
  /** Availability zone, when the registry knows it. */
  readonly zone?: string;
  /** Tags, sorted and without duplicates. */
  readonly tags: readonly string[];
  /** Free-form string metadata. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The registry it came from, as a redacted URL (`memory://`). */
  readonly registry: string;
}

/**
 * What describes an instance before it is registered: everything but the
 * registry, with defaults for the optional fields.
 */
export interface InstanceSpec {
  /** Unique id within the service. @default `${host}:${port}` */
  readonly id?: string;
  /** The service name. */
  readonly service: string;
  /** Host name or IP address. */
  readonly host: string;
  /** TCP port, 1 to 65535. */
  readonly port: number;
  /** TLS. @default false */
  readonly secure?: boolean;
  /** Status to advertise. @default 'UP' */
  readonly status?: InstanceStatus;
  /** Traffic weight, a finite number >= 0. @default 1 */
  readonly weight?: number;
  /** Availability zone. */
  readonly zone?: string;
  /** Tags. @default [] */
  readonly tags?: readonly string[];
  /** String metadata. @default {} */
  readonly metadata?: Readonly<Record<string, string>>;
}

const EMPTY_TAGS: readonly string[] = Object.freeze([]);
const EMPTY_METADATA: Readonly<Record<string, string>> = Object.freeze({});

const SERVICE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/*
 * The rules of an Instance's fields, in one place: createInstance checks
 * them, and the io-ts codecs that decode registry payloads refine with them.
 */

/**
 * A service name: letters, digits, `.`, `_`, `-`, starting with a letter, a
 * digit or `_` (DNS SRV names: `_http._tcp.hello.example`); at most 253.
 */
export const isServiceName = (s: string): boolean => s.length <= 253 && SERVICE_NAME.test(s);
/** A host name or IP address: not blank, no whitespace, no `/`. */
export const isHost = (s: string): boolean => s.trim() !== '' && !/[\s/]/.test(s);
/** An instance id: 1 to 512 characters. */
export const isInstanceId = (s: string): boolean => s.length >= 1 && s.length <= 512;
/** A TCP port: an integer from 1 to 65535. */
export const isPort = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;
/** A traffic weight: a finite number >= 0. */
export const isWeight = (n: number): boolean => Number.isFinite(n) && n >= 0;
/** A tag or a zone: not blank. */
export const isLabel = (s: string): boolean => s.trim() !== '';

/** Checks a service name; throws a {@link ConfigError} naming `field` otherwise. */
export const checkServiceName = (service: unknown, context: ErrorContext = {}): string => {
  if (typeof service !== 'string' || !isServiceName(service)) {
    throw new ConfigError(
      'service',
      `must be a name of letters, digits, '.', '_' or '-' (got ${JSON.stringify(service)})`,
      'pass a service name such as "hello" or "billing-api"',
      context,
    );
  }
  return service;
};

const fail = (field: string, problem: string, fix: string, context: ErrorContext): never => {
  throw new ConfigError(field, problem, fix, context);
};

/**
 * Validates a spec and builds a frozen {@link Instance}.
 *
 * @throws {ConfigError} naming the field that is wrong (empty host, port out
 *   of range, negative weight, unknown status...).
 * @example
 * ```ts
 * const i = createInstance({ service: 'hello', host: '10.0.0.1', port: 8080 }, 'memory://');
 * i.id; // '10.0.0.1:8080'
 * ```
 */
export const createInstance = (spec: InstanceSpec, registry: string): Instance => {
  const context: ErrorContext = { registry, service: spec.service };
  checkServiceName(spec.service, { registry });
  if (typeof spec.host !== 'string' || !isHost(spec.host)) {
    fail(
      'host',
      `must be a host name or IP, without spaces or '/' (got ${JSON.stringify(spec.host)})`,
      'pass the address other services reach this instance on',
      context,
    );
  }
  if (typeof spec.port !== 'number' || !isPort(spec.port)) {
    fail(
      'port',
      `must be an integer from 1 to 65535 (got ${String(spec.port)})`,
      'pass the TCP port the instance listens on',
      context,
    );
  }
  const weight = spec.weight ?? 1;
  if (typeof weight !== 'number' || !isWeight(weight)) {
    fail(
      'weight',
      `must be a number >= 0 (got ${String(weight)})`,
      'use 1 for a normal share, 0 for no traffic',
      context,
    );
  }
  const status = spec.status ?? 'UP';
  if (!INSTANCE_STATUSES.includes(status)) {
    fail(
      'status',
      `must be one of ${INSTANCE_STATUSES.join(', ')} (got ${String(status)})`,
      'pick a valid status',
      context,
    );
  }
  const id = spec.id ?? `${spec.host}:${spec.port}`;
  if (typeof id !== 'string' || !isInstanceId(id)) {
    fail(
      'id',
      `must be a non-empty string of at most 512 characters (got ${JSON.stringify(spec.id)})`,
      'omit it to use host:port',
      context,
    );
  }
  const metadata = spec.metadata ?? EMPTY_METADATA;
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') {
      fail(
        `metadata.${k}`,
        `must be a string (got ${typeof v})`,
        'convert metadata values to strings',
        context,
      );
    }
  }
  const tags = spec.tags ?? EMPTY_TAGS;
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || !isLabel(t))) {
    fail(
      'tags',
      `must be an array of non-blank strings (got ${JSON.stringify(tags)})`,
      'pass tags such as ["v2", "primary"]',
      context,
    );
  }
  if (spec.zone !== undefined && (typeof spec.zone !== 'string' || !isLabel(spec.zone))) {
    fail(
      'zone',
      `must be a non-blank string when given (got ${JSON.stringify(spec.zone)})`,
      'omit it or name the zone',
      context,
    );
  }
  return freezeInstance({
    id,
    service: spec.service,
    host: spec.host,
    port: spec.port,
    secure: spec.secure ?? false,
    status,
    weight,
    zone: spec.zone,
    tags,
    metadata,
    registry,
  });
};

/** Normalises and freezes an instance whose fields are already known to be valid. */
export const freezeInstance = (fields: {
  readonly id: string;
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly status: InstanceStatus;
  readonly weight: number;
  readonly zone?: string | undefined;
  readonly tags: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly registry: string;
}): Instance => {
  const tags =
    fields.tags.length === 0 ? EMPTY_TAGS : Object.freeze([...new Set(fields.tags)].sort());
  const metadata =
    Object.keys(fields.metadata).length === 0
      ? EMPTY_METADATA
      : Object.freeze({ ...fields.metadata });
  const instance: Instance = {
    id: fields.id,
    service: fields.service,
    host: fields.host,
    port: fields.port,
    secure: fields.secure,
    status: fields.status,
    weight: fields.weight,
    ...(fields.zone === undefined ? {} : { zone: fields.zone }),
    tags,
    metadata,
    registry: fields.registry,
  };
  return Object.freeze(instance);
};

/** True when two instances are equal field by field (tags and metadata included). */
export const sameInstance = (a: Instance, b: Instance): boolean => {
  if (a === b) return true;
  if (
    a.id !== b.id ||
    a.service !== b.service ||
    a.host !== b.host ||
    a.port !== b.port ||
    a.secure !== b.secure ||
    a.status !== b.status ||
    a.weight !== b.weight ||
    a.zone !== b.zone ||
    a.registry !== b.registry ||
    a.tags.length !== b.tags.length
  ) {
    return false;
  }
  for (let i = 0; i < a.tags.length; i++) if (a.tags[i] !== b.tags[i]) return false;
  const ak = Object.keys(a.metadata);
  if (ak.length !== Object.keys(b.metadata).length) return false;
  for (const k of ak) if (a.metadata[k] !== b.metadata[k]) return false;
  return true;
};

/** `http://host:port` or `https://host:port` (IPv6 hosts bracketed). */
export const baseUrl = (instance: Instance): string =>
  `${instance.secure ? 'https' : 'http'}://${formatHostPort(instance.host, instance.port)}`;

/**
 * Consul's wire formats, decoded with io-ts in this one place, and how a
 * health entry becomes an {@link Instance}:
 *
 * - host: the service `Address`, or the node `Address` when it is empty;
 * - id: the service `ID` (qualified as `ID@node` when two nodes list the same ID);
 * - tags: the service tags, less go-micro's encoded tags (see `gomicro.ts`);
 * - metadata: the service `Meta`, over go-micro's tag metadata, over
 *   `key=value` tags (Spring Cloud Consul before 3.0 kept metadata there);
 * - status: from the checks: any maintenance check → `OUT_OF_SERVICE`, any
 *   critical → `DOWN`, otherwise `UP` (a warning keeps it `UP`, at the
 *   `Weights.Warning` weight);
 * - weight: `Weights.Passing` (or `Weights.Warning`), or the `rxdisco-weight`
 *   meta that rxdisco writes for weights Consul cannot hold (0, fractions);
 * - zone: `Meta.zone`; secure: `Meta.secure == "true"` (Spring's keys).
 *
 * @module
 */
import * as t from 'io-ts';
import {
  decode,
  ENTRY_LIMITS,
  NonEmptyString,
  Port,
  StringMap,
  setEntry,
  struct,
} from '../../core/codecs.js';
import { DecodeError, RegistryUnavailableError } from '../../core/errors.js';
import { freezeInstance, type Instance, type InstanceStatus } from '../../core/instance.js';
import { decodeGoMicroTags } from './gomicro.js';

const nullable = <C extends t.Mixed>(c: C) => t.union([c, t.null, t.undefined]);

const NonNegative = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'NonNegative');

/** `Node` of a health entry. */
export const HealthNode = struct(
  { Node: t.string, Address: t.string },
  { Datacenter: t.string, Meta: StringMap },
);

/** `Service` of a health entry (also the shape of `/v1/agent/service/<id>`). */
export const HealthService = struct(
  { ID: NonEmptyString, Service: NonEmptyString, Port: Port, Address: t.string },
  {
    Tags: t.array(t.string),
    Meta: StringMap,
    Weights: struct({ Passing: NonNegative, Warning: NonNegative }, {}),
  },
);

/** One check of a health entry. */
export const HealthCheck = struct({ CheckID: t.string, Status: t.string }, { ServiceID: t.string });

/** One element of `/v1/health/service/<name>`. */
export const HealthEntry = struct(
  { Node: HealthNode, Service: HealthService },
  { Checks: t.array(HealthCheck) },
  'HealthEntry',
);
type HealthEntry = t.TypeOf<typeof HealthEntry>;

/** `/v1/catalog/services`: service name → tags. */
export const CatalogServices = t.record(t.string, nullable(t.array(t.string)), 'CatalogServices');

/** The meta key rxdisco writes a weight into when `Weights` cannot hold it. */
export const WEIGHT_META = 'rxdisco-weight';

/** What a health list decodes to. */
export interface DecodedHealth {
  readonly instances: readonly Instance[];
  readonly skipped: readonly DecodeError[];
}

const parseJson = (text: string, what: string, registry: string, service?: string): unknown => {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RegistryUnavailableError(
      `Consul answered ${what} that is not JSON (${(e as Error).message})`,
      { registry, ...(service === undefined ? {} : { service }) },
    );
  }
};

/** The health status of an entry from its checks. */
export const statusOf = (
  checks: readonly { readonly CheckID: string; readonly Status: string }[],
): { status: InstanceStatus; warning: boolean } => {
  let critical = false;
  let warning = false;
  let unknown = false;
  for (const c of checks) {
    if (c.CheckID === '_node_maintenance' || c.CheckID.startsWith('_service_maintenance:')) {
      return { status: 'OUT_OF_SERVICE', warning: false };
    }
    if (c.Status === 'critical') critical = true;
    else if (c.Status === 'warning') warning = true;
    else if (c.Status === 'maintenance') return { status: 'OUT_OF_SERVICE', warning: false };
    else if (c.Status !== 'passing') unknown = true;
  }
  if (critical) return { status: 'DOWN', warning };
  if (unknown) return { status: 'UNKNOWN', warning };
  return { status: 'UP', warning };
};

/**
 * `key=value` tags as metadata (Spring Cloud Consul before 3.0 wrote metadata
 * so). A `__proto__=x` tag is a metadata entry like any other, as in `Meta`.
 */
const tagMetadata = (tags: readonly string[]): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const tag of tags) {
    const eq = tag.indexOf('=');
    if (eq > 0) setEntry(out, tag.slice(0, eq), tag.slice(eq + 1));
  }
  return out;
};

const HOST = /^[^\s/]+$/;

/**
 * Maps one decoded health entry to an instance, or says why it cannot; an
 * instance whose go-micro tags were partly dropped comes with the report.
 */
const toInstance = (
  entry: HealthEntry,
  key: string,
  registry: string,
  service: string,
): { instance: Instance; dropped?: DecodeError } | { skipped: DecodeError } => {
  const svc = entry.Service;
  const context = { registry, service };
  const host = svc.Address.trim() === '' ? entry.Node.Address.trim() : svc.Address.trim();
  if (!HOST.test(host)) {
    return {
      skipped: new DecodeError(
        key,
        [
          `Service.Address: expected a host name or IP address (or an empty one with Node.Address set), got ${JSON.stringify(svc.Address)} on node ${JSON.stringify(entry.Node.Node)} with Address ${JSON.stringify(entry.Node.Address)}`,
        ],
        context,
      ),
    };
  }
  const gm = decodeGoMicroTags((svc.Tags ?? []).filter((tag) => tag !== ''));
  const dropped =
    gm.dropped === undefined
      ? undefined
      : new DecodeError(
          `${key} (tags)`,
          gm.dropped.map((p) => `Service.${p}`),
          context,
        );
  const { [WEIGHT_META]: weightMeta, ...meta } = svc.Meta ?? {};
  const metadata = { ...tagMetadata(gm.tags), ...gm.metadata, ...meta };
  const { status, warning } = statusOf(entry.Checks ?? []);
  let weight = (warning ? svc.Weights?.Warning : svc.Weights?.Passing) ?? 1;
  if (weightMeta !== undefined) {
    const w = Number(weightMeta);
    if (weightMeta.trim() === '' || !Number.isFinite(w) || w < 0) {
      return {
        skipped: new DecodeError(
          key,
          [`Meta.${WEIGHT_META}: expected a finite number >= 0, got ${JSON.stringify(weightMeta)}`],
          context,
        ),
      };
    }
    weight = w;
  }
  const zone = metadata.zone !== undefined && metadata.zone !== '' ? metadata.zone : undefined;
  return {
    instance: freezeInstance({
      id: svc.ID,
      service,
      host,
      port: svc.Port,
      secure: metadata.secure === 'true',
      status,
      weight,
      zone,
      tags: gm.tags,
      metadata,
      registry,
    }),
    ...(dropped === undefined ? {} : { dropped }),
  };
};

const idOf = (raw: unknown): string | undefined => {
  const id = (raw as { Service?: { ID?: unknown } } | null)?.Service?.ID;
  return typeof id === 'string' && id !== '' ? id : undefined;
};
const nodeOf = (raw: unknown): string => {
  const node = (raw as { Node?: { Node?: unknown } } | null)?.Node?.Node;
  return typeof node === 'string' ? node : '?';
};

/**
 * Decodes a `/v1/health/service/<service>` body. An entry that does not
 * decode is skipped and reported (key `service/ID`); a body that is not a
 * JSON array is a (retryable) {@link RegistryUnavailableError}.
 */
export const decodeHealth = (text: string, service: string, registry: string): DecodedHealth => {
  const body = parseJson(text, `the health of '${service}'`, registry, service);
  if (!Array.isArray(body)) {
    throw new RegistryUnavailableError(
      `Consul answered the health of '${service}' with ${body === null ? 'null' : typeof body}, not a list`,
      { registry, service },
    );
  }
  const counts = new Map<string, number>();
  for (const raw of body) {
    const id = idOf(raw);
    if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const instances: Instance[] = [];
  const skipped: DecodeError[] = [];
  body.forEach((raw, i) => {
    const rawId = idOf(raw);
    const shared = rawId !== undefined && (counts.get(rawId) ?? 0) > 1;
    const key = `${service}/${rawId ?? `#${i}`}${shared ? `@${nodeOf(raw)}` : ''}`;
    const d = decode(HealthEntry, raw, key, { registry, service }, ENTRY_LIMITS);
    if (!d.ok) {
      skipped.push(d.error);
      return;
    }
    if (d.value.Service.Service.toLowerCase() !== service.toLowerCase()) {
      skipped.push(
        new DecodeError(
          key,
          [`Service.Service: expected ${JSON.stringify(service)}, got ${d.value.Service.Service}`],
          { registry, service },
        ),
      );
      return;
    }
    const entry = shared
      ? { ...d.value, Service: { ...d.value.Service, ID: `${rawId}@${d.value.Node.Node}` } }
      : d.value;
    const r = toInstance(entry as HealthEntry, key, registry, service);
    if ('skipped' in r) skipped.push(r.skipped);
    else {
      instances.push(r.instance);
      if (r.dropped !== undefined) skipped.push(r.dropped);
    }
  });
  return { instances, skipped };
};

/** Decodes `/v1/catalog/services` into sorted service names. */
export const decodeCatalogServices = (text: string, registry: string): string[] => {
  const body = parseJson(text, 'the service catalog', registry);
  const d = decode(CatalogServices, body, 'catalog/services', { registry });
  if (!d.ok) {
    throw new RegistryUnavailableError(
      `Consul answered a malformed service catalog: ${d.error.problems.join('; ')}`,
      { registry, cause: d.error },
    );
  }
  return Object.keys(d.value).sort();
};

/** A fingerprint of decoded content: equal content, equal string. */
export const fingerprintOf = (decoded: DecodedHealth): string =>
  JSON.stringify([decoded.instances, decoded.skipped.map((e) => [e.key, e.problems])]);

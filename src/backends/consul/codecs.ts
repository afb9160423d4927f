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
import { createHash } from 'node:crypto';
import * as t from 'io-ts';
import type { SchedulerLike } from 'rxjs';
import {
  admitInstance,
  decode,
  ENTRY_LIMITS,
  type InstanceDraft,
  type InstancePaths,
  NonEmptyString,
  Port,
  StringMap,
  setEntry,
  struct,
} from '../../core/codecs.js';
import { DecodeError, RegistryUnavailableError } from '../../core/errors.js';
import { type Instance, type InstanceStatus, isHost, isWeight } from '../../core/instance.js';
import { Interner } from '../../core/intern.js';
import { JsonArrayReader } from '../../core/json-array.js';
import { runInSlices, SLICE, type SliceBudget } from '../../core/slices.js';
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
  /**
   * A digest of the decoded content (instances and reports): equal
   * content, equal fingerprint; a few bytes kept between two answers, not
   * a copy of the content.
   */
  readonly fingerprint: string;
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

/** Where the fields of an instance come from in a health entry. */
const PATHS: InstancePaths = {
  id: 'Service.ID',
  service: 'Service.Service',
  host: 'Service.Address',
  port: 'Service.Port',
  weight: 'Service.Weights',
  tags: 'Service.Tags',
  zone: 'Service.Meta.zone',
};

/**
 * Maps one decoded health entry to an instance (through the core's
 * {@link admitInstance}: the rules of every Instance), or says why it
 * cannot; an instance whose go-micro tags were partly dropped comes with
 * the report.
 */
const toInstance = (
  entry: HealthEntry,
  key: string,
  registry: string,
  service: string,
  intern: Interner,
): Instance | DecodeError | { instance: Instance; dropped: DecodeError } => {
  const svc = entry.Service;
  const context = { registry, service };
  const address = svc.Address.trim();
  const host = address === '' ? entry.Node.Address.trim() : address;
  if (!isHost(host)) {
    return new DecodeError(
      key,
      [
        `Service.Address: expected a host name or IP address (or an empty one with Node.Address set), got ${JSON.stringify(svc.Address)} on node ${JSON.stringify(entry.Node.Node)} with Address ${JSON.stringify(entry.Node.Address)}`,
      ],
      context,
    );
  }
  const gm = decodeGoMicroTags(svc.Tags === undefined ? [] : svc.Tags.filter((tag) => tag !== ''));
  const metadata: Record<string, string> = {};
  for (const tag of gm.tags) {
    // `key=value` tags (Spring Cloud Consul before 3.0); `__proto__=x` is data, as in Meta.
    const eq = tag.indexOf('=');
    if (eq > 0) setEntry(metadata, intern.string(tag.slice(0, eq)), tag.slice(eq + 1));
  }
  for (const k in gm.metadata) setEntry(metadata, k, gm.metadata[k]!);
  let weightMeta: string | undefined;
  const meta = svc.Meta;
  if (meta !== undefined) {
    for (const k in meta) {
      if (k === WEIGHT_META) weightMeta = meta[k];
      else setEntry(metadata, k, meta[k]!);
    }
  }
  const { status, warning } = statusOf(entry.Checks ?? []);
  let weight = (warning ? svc.Weights?.Warning : svc.Weights?.Passing) ?? 1;
  if (weightMeta !== undefined) {
    const w = Number(weightMeta);
    if (weightMeta.trim() === '' || !isWeight(w)) {
      return new DecodeError(
        key,
        [`Meta.${WEIGHT_META}: expected a finite number >= 0, got ${JSON.stringify(weightMeta)}`],
        context,
      );
    }
    weight = w;
  }
  const zone = metadata.zone;
  const shared = intern.metadata(metadata);
  const draft: InstanceDraft =
    zone === undefined || zone === ''
      ? {
          id: svc.ID,
          service,
          host,
          port: svc.Port,
          secure: shared.secure === 'true',
          status,
          weight,
          tags: intern.tags(gm.tags),
          metadata: shared,
          registry,
        }
      : {
          id: svc.ID,
          service,
          host,
          port: svc.Port,
          secure: shared.secure === 'true',
          status,
          weight,
          zone: intern.string(zone),
          tags: intern.tags(gm.tags),
          metadata: shared,
          registry,
        };
  const instance = admitInstance(draft, key, context, PATHS);
  if (gm.dropped === undefined || instance instanceof DecodeError) return instance;
  return {
    instance,
    dropped: new DecodeError(
      `${key} (tags)`,
      gm.dropped.map((p) => `Service.${p}`),
      context,
    ),
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
 * A health answer decoded a slice at a time: each entry parsed from its
 * own text ({@link JsonArrayReader}), so the whole answer is never one
 * parsed tree, and nothing of an entry but its instance outlives its
 * slice.
 */
class HealthDecoder {
  readonly instances: Instance[] = [];
  readonly skipped: DecodeError[] = [];
  private readonly reader: JsonArrayReader;
  private readonly intern = new Interner();
  private readonly hash = createHash('sha1');
  private readonly context: { readonly registry: string; readonly service: string };
  private readonly lowerService: string;
  private entries = 0;
  /** Entries per raw service ID: an ID on two nodes is qualified with the node at the end. */
  private readonly counts = new Map<string, number>();
  private shared = false;
  /** The node of each instance, and of each report (`undefined`: not an entry's own). */
  private readonly instanceNodes: string[] = [];
  private readonly skippedNodes: (string | undefined)[] = [];

  constructor(
    text: string,
    private readonly service: string,
    private readonly registry: string,
  ) {
    this.context = { registry, service };
    this.lowerService = service.toLowerCase();
    try {
      this.reader = new JsonArrayReader(text);
    } catch {
      // Not an array: say what it is, as JSON.parse sees it.
      const body = parseJson(text, `the health of '${service}'`, registry, service);
      throw new RegistryUnavailableError(
        `Consul answered the health of '${service}' with ${body === null ? 'null' : typeof body}, not a list`,
        this.context,
      );
    }
  }

  /** Decodes up to one slice of entries; true when the answer is done. */
  step(slice: SliceBudget): boolean {
    let chars = 0;
    for (let n = 0; n < slice.entries && chars < slice.chars; n++) {
      let raw: unknown;
      try {
        raw = this.reader.next();
      } catch (e) {
        throw new RegistryUnavailableError(
          `Consul answered the health of '${this.service}' that is not JSON (${(e as Error).message})`,
          this.context,
        );
      }
      if (raw === JsonArrayReader.END) return true;
      chars += this.reader.lastChars;
      this.entry(raw, this.entries++);
    }
    return false;
  }

  private entry(raw: unknown, i: number): void {
    const service = this.service;
    const rawId = idOf(raw);
    if (rawId !== undefined) {
      const seen = (this.counts.get(rawId) ?? 0) + 1;
      this.counts.set(rawId, seen);
      if (seen > 1) this.shared = true;
    }
    const node = this.intern.string(nodeOf(raw));
    const key = `${service}/${rawId ?? `#${i}`}`;
    const d = decode(HealthEntry, raw, key, this.context, ENTRY_LIMITS);
    if (!d.ok) {
      this.report(d.error, node);
      return;
    }
    const name = d.value.Service.Service;
    if (name !== service && name.toLowerCase() !== this.lowerService) {
      const problem = `Service.Service: expected ${JSON.stringify(service)}, got ${name}`;
      this.report(new DecodeError(key, [problem], this.context), node);
      return;
    }
    const r = toInstance(d.value, key, this.registry, service, this.intern);
    if (r instanceof DecodeError) this.report(r, node);
    else if ('dropped' in r) {
      this.keep(r.instance, node);
      this.report(r.dropped, node);
    } else this.keep(r, node);
  }

  private keep(instance: Instance, node: string): void {
    this.instances.push(instance);
    this.instanceNodes.push(node);
    // The fingerprint digests the decoded content as it comes, a slice at a time.
    this.hash.update(JSON.stringify(instance));
  }

  private report(error: DecodeError, node: string | undefined): void {
    this.skipped.push(error);
    this.skippedNodes.push(node);
    this.hash.update(JSON.stringify([error.key, error.problems]));
  }

  /** The decoded answer: IDs listed on two nodes or more qualified as `ID@node`. */
  result(): DecodedHealth {
    if (!this.shared) {
      const fingerprint = this.hash.digest('base64');
      return { instances: this.instances, skipped: this.skipped, fingerprint };
    }
    const instances: Instance[] = [];
    const skipped: DecodeError[] = [];
    const isShared = (id: string): boolean => (this.counts.get(id) ?? 0) > 1;
    this.instances.forEach((i, n) => {
      if (!isShared(i.id)) {
        instances.push(i);
        return;
      }
      const id = `${i.id}@${this.instanceNodes[n]}`;
      const r = admitInstance({ ...i, id }, `${i.service}/${id}`, this.context, PATHS);
      if (r instanceof DecodeError) skipped.push(r);
      else instances.push(r);
    });
    this.skipped.forEach((e, n) => {
      const node = this.skippedNodes[n];
      const rawId = e.key.slice(this.service.length + 1).replace(/ \(tags\)$/, '');
      if (node === undefined || !isShared(rawId)) {
        skipped.push(e);
        return;
      }
      const prefix = `${this.service}/${rawId}`;
      const key = `${prefix}@${node}${e.key.slice(prefix.length)}`;
      skipped.push(new DecodeError(key, e.problems, this.context));
    });
    // Rare (one ID on two nodes): the content changed, digested again.
    const hash = createHash('sha1');
    for (const i of instances) hash.update(JSON.stringify(i));
    for (const e of skipped) hash.update(JSON.stringify([e.key, e.problems]));
    return { instances, skipped, fingerprint: hash.digest('base64') };
  }
}

/**
 * Decodes a `/v1/health/service/<service>` body. An entry that does not
 * decode is skipped and reported (key `service/ID`); a body that is not a
 * JSON array is a (retryable) {@link RegistryUnavailableError}.
 */
export const decodeHealth = (text: string, service: string, registry: string): DecodedHealth => {
  const d = new HealthDecoder(text, service, registry);
  while (!d.step(WHOLE));
  return d.result();
};

const WHOLE = { entries: Number.POSITIVE_INFINITY, chars: Number.POSITIVE_INFINITY };

/**
 * {@link decodeHealth} in slices of {@link SLICE} entries that yield to the
 * event loop (`timer(0, scheduler)`) between them: a 100,000-entry answer
 * blocks the process for a few milliseconds at a time, not for most of a
 * second. An answer of one slice is decoded at once.
 */
export const decodeHealthSliced = async (
  text: string,
  service: string,
  registry: string,
  scheduler: SchedulerLike,
  signal?: AbortSignal,
): Promise<DecodedHealth> => {
  const d = new HealthDecoder(text, service, registry);
  await runInSlices(() => d.step(SLICE), scheduler, signal);
  return d.result();
};

/** Decodes `/v1/catalog/services` into sorted service names. */
export const decodeCatalogServices = (text: string, registry: string): string[] =>
  [...decodeCatalogServiceTags(text, registry).keys()].sort();

/** The fingerprint of a decoded answer (equal content, equal fingerprint). */
export const fingerprintOf = (decoded: DecodedHealth): string => decoded.fingerprint;

/** One check of `/v1/health/state/any`: what the catalog watch needs of it. */
export const StateCheck = struct(
  { Node: t.string, CheckID: t.string, ServiceName: t.string, ModifyIndex: NonNegative },
  { CreateIndex: NonNegative },
  'StateCheck',
);

/** A check of the whole registry, by node and check ID. */
export interface RegistryCheck {
  /** `node\0checkId`: unique in a datacenter. */
  readonly key: string;
  /** The service it checks; `''` for a node check (it counts for every service of its node). */
  readonly service: string;
  readonly modifyIndex: number;
  readonly createIndex: number;
}

/**
 * Decodes `/v1/health/state/any` (every check of the datacenter). A check
 * that does not decode is skipped and reported; a body that is not a JSON
 * array is a (retryable) {@link RegistryUnavailableError}.
 */
export const decodeStateChecks = (
  text: string,
  registry: string,
): { checks: RegistryCheck[]; skipped: DecodeError[] } => {
  const body = parseJson(text, 'the checks of the registry', registry);
  if (!Array.isArray(body)) {
    throw new RegistryUnavailableError(
      `Consul answered /v1/health/state/any with ${body === null ? 'null' : typeof body}, not a list`,
      { registry },
    );
  }
  const checks: RegistryCheck[] = [];
  const skipped: DecodeError[] = [];
  for (let i = 0; i < body.length; i++) {
    const d = decode(StateCheck, body[i], `health/state/any#${i}`, { registry });
    if (!d.ok) {
      skipped.push(d.error);
      continue;
    }
    const c = d.value;
    checks.push({
      key: `${c.Node}\u0000${c.CheckID}`,
      service: c.ServiceName,
      modifyIndex: c.ModifyIndex,
      createIndex: c.CreateIndex ?? c.ModifyIndex,
    });
  }
  return { checks, skipped };
};

/**
 * Decodes `/v1/catalog/services` into service name → its tags (sorted,
 * joined), for telling which services a change of the catalog touched.
 */
export const decodeCatalogServiceTags = (text: string, registry: string): Map<string, string> => {
  const body = parseJson(text, 'the service catalog', registry);
  const d = decode(CatalogServices, body, 'catalog/services', { registry });
  if (!d.ok) {
    throw new RegistryUnavailableError(
      `Consul answered a malformed service catalog: ${d.error.problems.join('; ')}`,
      { registry, cause: d.error },
    );
  }
  const tags = new Map<string, string>();
  for (const name in d.value) tags.set(name, [...(d.value[name] ?? [])].sort().join('\n'));
  return tags;
};

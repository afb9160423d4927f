/**
 * io-ts codecs for everything that crosses a boundary, and the one seam
 * where io-ts errors become our {@link DecodeError}. The rest of rxdisco sees
 * plain values or our errors, never io-ts or fp-ts types.
 *
 * @module
 */
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { DecodeError, type ErrorContext } from './errors.js';
import {
  freezeInstance,
  INSTANCE_STATUSES,
  type Instance,
  type InstanceStatus,
  isHost,
  isInstanceId,
  isLabel,
  isPort,
  isServiceName,
  isWeight,
} from './instance.js';
import type { Interner } from './intern.js';

/** The outcome of decoding one registry entry. */
export type Decoded<A> =
  | { readonly ok: true; readonly value: A }
  | { readonly ok: false; readonly error: DecodeError };

interface PathEntry {
  readonly key: string;
  readonly type: { readonly name: string; readonly _tag?: string };
}

const formatPath = (context: readonly PathEntry[]): string => {
  const keys: string[] = [];
  for (let i = 1; i < context.length; i++) {
    const parent = context[i - 1]!.type;
    if (parent._tag === 'IntersectionType' || parent._tag === 'UnionType') continue;
    keys.push(context[i]!.key);
  }
  return keys.length === 0 ? '(value)' : keys.join('.');
};

const SHOWN = 60;

/**
 * At most {@link SHOWN} characters of JSON-like text for `value`, written
 * without recursion past what fits: a value nested 10,000 levels deep, or
 * of 50 MB, costs no more than a small one and never throws.
 */
const show = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  let out = '';
  // Pending work: a value to write, or literal text (closing brackets, commas).
  const todo: ({ v: unknown } | string)[] = [{ v: value }];
  while (todo.length > 0 && out.length <= SHOWN) {
    const item = todo.pop()!;
    if (typeof item === 'string') {
      out += item;
      continue;
    }
    const v = item.v;
    if (typeof v === 'string') out += JSON.stringify(v.length > SHOWN ? v.slice(0, SHOWN) : v);
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) out += String(v);
    else if (Array.isArray(v)) {
      out += '[';
      todo.push(']');
      for (let i = Math.min(v.length, SHOWN) - 1; i >= 0; i--) {
        todo.push({ v: v[i] });
        if (i > 0) todo.push(',');
      }
    } else if (typeof v === 'object') {
      out += '{';
      todo.push('}');
      const keys: string[] = [];
      for (const k in v) {
        keys.push(k);
        if (keys.length >= SHOWN) break;
      }
      for (let i = keys.length - 1; i >= 0; i--) {
        todo.push({ v: (v as Record<string, unknown>)[keys[i]!] });
        todo.push(`${JSON.stringify(keys[i]!.slice(0, SHOWN))}:`);
        if (i > 0) todo.push(',');
      }
    } else out += typeof v;
  }
  return out.length > SHOWN || todo.length > 0 ? `${out.slice(0, SHOWN - 3)}...` : out;
};

/** Limits on one registry entry, checked before it is decoded. */
export interface EntryLimits {
  /**
   * Deepest nesting of objects and arrays in one entry (an InstanceInfo or a
   * Consul health entry nests 3 or 4 levels).
   * @default 32
   */
  readonly maxDepth: number;
  /**
   * Largest size of one entry, in characters of its JSON text (counted on
   * the parsed value: strings, keys, numbers and punctuation).
   * @default 1_048_576 (1 MiB)
   */
  readonly maxBytes: number;
}

/** The limits every decode path applies to one entry. */
export const ENTRY_LIMITS: EntryLimits = Object.freeze({ maxDepth: 32, maxBytes: 1_048_576 });

/**
 * Why `value` breaks `limits`, or undefined when it does not. Walks the
 * value without recursion and stops at the first limit it crosses, so a
 * hostile entry costs at most `maxBytes` of work.
 */
export const entryProblem = (
  value: unknown,
  limits: EntryLimits = ENTRY_LIMITS,
): string | undefined => {
  let size = 0;
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v === 'string') size += v.length + 2;
    else if (typeof v !== 'object' || v === null) size += 5;
    else if (depth >= limits.maxDepth) {
      return `(value): expected at most ${limits.maxDepth} levels of nesting, got more`;
    } else if (Array.isArray(v)) {
      size += 2;
      // Checked per element: a list of ten million numbers stops at the limit.
      for (let i = 0; i < v.length && size <= limits.maxBytes; i++, size++) {
        values.push(v[i]);
        depths.push(depth + 1);
      }
    } else {
      size += 2;
      for (const k in v) {
        values.push((v as Record<string, unknown>)[k]);
        depths.push(depth + 1);
        size += k.length + 4;
        if (size > limits.maxBytes) break;
      }
    }
    if (size > limits.maxBytes)
      return `(value): expected at most ${limits.maxBytes} bytes, got more`;
  }
  return undefined;
};

/**
 * Sets `key` of a decoded map to `value` as data, whatever the key: an
 * entry named `__proto__` stays an own entry (what `JSON.parse` makes of
 * it) instead of reaching the object's prototype setter and vanishing.
 */
export const setEntry = (map: Record<string, string>, key: string, value: string): void => {
  if (key === '__proto__') {
    Object.defineProperty(map, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else map[key] = value;
};

/**
 * Decodes `value` with `codec`. On failure, returns a {@link DecodeError}
 * naming `key` and listing each failed check as `path: expected T, got V`.
 * With `limits` (one registry entry: pass {@link ENTRY_LIMITS}), a value
 * nested deeper or larger than they allow is a {@link DecodeError} before
 * any check runs. Never throws.
 */
export const decode = <A>(
  codec: t.Decoder<unknown, A>,
  value: unknown,
  key: string,
  context: ErrorContext = {},
  limits?: EntryLimits,
): Decoded<A> => {
  const tooBig = limits === undefined ? undefined : entryProblem(value, limits);
  if (tooBig !== undefined) return { ok: false, error: new DecodeError(key, [tooBig], context) };
  const result = codec.decode(value);
  if (!isLeft(result)) return { ok: true, value: result.right };
  const problems = result.left.map((e) => {
    const last = e.context[e.context.length - 1];
    const expected = e.message ?? `expected ${last?.type.name ?? 'a valid value'}`;
    return `${formatPath(e.context as readonly PathEntry[])}: ${expected}, got ${show(e.value)}`;
  });
  return { ok: false, error: new DecodeError(key, [...new Set(problems)], context) };
};

/**
 * Parses JSON text and decodes it; invalid JSON is a {@link DecodeError} too,
 * and so is, with `limits`, a text longer than `limits.maxBytes` (not parsed).
 */
export const decodeJson = <A>(
  codec: t.Decoder<unknown, A>,
  text: string,
  key: string,
  context: ErrorContext = {},
  limits?: EntryLimits,
): Decoded<A> => {
  if (limits !== undefined && text.length > limits.maxBytes) {
    return {
      ok: false,
      error: new DecodeError(
        key,
        [`(value): expected at most ${limits.maxBytes} bytes, got ${text.length}`],
        context,
      ),
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return {
      ok: false,
      error: new DecodeError(
        key,
        [`(value): expected JSON, got ${show(text)} (${(e as Error).message})`],
        context,
      ),
    };
  }
  return decode(codec, value, key, context, limits);
};

type Required<P extends t.Props> = { [K in keyof P]: t.TypeOf<P[K]> };
type Optional<P extends t.Props> = { [K in keyof P]?: t.TypeOf<P[K]> };

const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === 'object' && u !== null && !Array.isArray(u);

/**
 * An object codec with required and optional fields, checked in one pass:
 * what `t.intersection([t.type(required), t.partial(optional)])` checks, at
 * a fraction of the cost for the payloads of a registry, decoded whenever
 * they change (cold code: every allocation and call shows). An optional
 * field may be missing or `null` (registries write both); a `null` one is
 * left out of the decoded value. Unknown fields are kept.
 *
 * A valid value is checked with the field codecs' `is()` and returned as
 * it is; their `validate()` runs only to report what is wrong, or for a
 * field whose codec transforms its input (its `is()` rejects the raw
 * value, and a copy gets the decoded one). So a field codec's `is()` must
 * accept only values that its `validate()` would return unchanged, as
 * io-ts's own codecs do. Named after its shape
 * (`{ Node: string, Meta?: StringMap }`) unless `name` is given.
 *
 * @example
 * ```ts
 * const Node = struct({ Node: t.string, Address: t.string }, { Meta: StringMap });
 * Node.decode({ Node: 'n1', Address: '10.0.0.1', Meta: null }); // Right
 * ```
 */
export const struct = <R extends t.Props, O extends t.Props>(
  required: R,
  optional: O,
  name?: string,
): t.Type<Required<R> & Optional<O>, unknown, unknown> => {
  // Plain arrays and indexed loops: this runs cold, where iterators cost.
  const reqKeys = Object.keys(required);
  const reqCodecs = Object.values(required);
  const optKeys = Object.keys(optional);
  const optCodecs = Object.values(optional);
  const is = (u: unknown): u is Required<R> & Optional<O> => {
    if (!isPlainObject(u)) return false;
    for (let i = 0; i < reqKeys.length; i++) if (!reqCodecs[i]!.is(u[reqKeys[i]!])) return false;
    for (let i = 0; i < optKeys.length; i++) {
      const v = u[optKeys[i]!];
      if (v !== undefined && !optCodecs[i]!.is(v)) return false;
    }
    return true;
  };
  return new t.Type<Required<R> & Optional<O>, unknown, unknown>(
    name ??
      `{ ${[
        ...reqKeys.map((k, i) => `${k}: ${reqCodecs[i]!.name}`),
        ...optKeys.map((k, i) => `${k}?: ${optCodecs[i]!.name}`),
      ].join(', ')} }`,
    is,
    (u, context) => {
      if (is(u)) return t.success(u);
      if (!isPlainObject(u)) return t.failure(u, context);
      const errors: t.ValidationError[] = [];
      let out = u;
      const set = (k: string, v: unknown): void => {
        if (out === u) out = { ...u };
        if (v === undefined) delete out[k];
        else out[k] = v;
      };
      const check = (k: string, codec: t.Mixed, v: unknown): void => {
        const r = codec.validate(v, t.appendContext(context, k, codec, v));
        if (isLeft(r)) errors.push(...r.left);
        else if (r.right !== v) set(k, r.right);
      };
      for (let i = 0; i < reqKeys.length; i++) check(reqKeys[i]!, reqCodecs[i]!, u[reqKeys[i]!]);
      for (let i = 0; i < optKeys.length; i++) {
        const v = u[optKeys[i]!];
        if (v === null) set(optKeys[i]!, undefined);
        else if (v !== undefined) check(optKeys[i]!, optCodecs[i]!, v);
      }
      return errors.length > 0 ? t.failures(errors) : t.success(out as Required<R> & Optional<O>);
    },
    t.identity,
  );
};

/** The brand of a checked value (exported so that codecs built on it can be exported). */
export interface NonEmptyBrand {
  readonly NonEmpty: unique symbol;
}
/** A string with at least one non-blank character (the rule of a tag or a zone). */
export const NonEmptyString = t.brand(
  t.string,
  (s): s is t.Branded<string, NonEmptyBrand> => isLabel(s),
  'NonEmpty',
);

/** The brand of a checked value (exported so that codecs built on it can be exported). */
export interface HostBrand {
  readonly Host: unique symbol;
}
/** A host name or IP address, by the rule `createInstance` applies: not blank, no whitespace or `/`. */
export const Host = t.brand(t.string, (s): s is t.Branded<string, HostBrand> => isHost(s), 'Host');

/** The brand of a checked value (exported so that codecs built on it can be exported). */
export interface InstanceIdBrand {
  readonly InstanceId: unique symbol;
}
/** An instance id, by the rule `createInstance` applies: 1 to 512 characters. */
export const InstanceId = t.brand(
  t.string,
  (s): s is t.Branded<string, InstanceIdBrand> => isInstanceId(s),
  'InstanceId',
);

/** The brand of a checked value (exported so that codecs built on it can be exported). */
export interface ServiceNameBrand {
  readonly ServiceName: unique symbol;
}
/** A service name, by the rule `createInstance` applies (letters, digits, `.`, `_`, `-`). */
export const ServiceName = t.brand(
  t.string,
  (s): s is t.Branded<string, ServiceNameBrand> => isServiceName(s),
  'ServiceName',
);

/** The brand of a checked value (exported so that codecs built on it can be exported). */
export interface PortBrand {
  readonly Port: unique symbol;
}
/** An integer TCP port, 1 to 65535. */
export const Port = t.brand(t.number, (n): n is t.Branded<number, PortBrand> => isPort(n), 'Port');

/** The brand of a checked value (exported so that codecs built on it can be exported). */
export interface WeightBrand {
  readonly Weight: unique symbol;
}
/** A finite number >= 0. */
export const Weight = t.brand(
  t.number,
  (n): n is t.Branded<number, WeightBrand> => isWeight(n),
  'Weight',
);

/** One of the {@link InstanceStatus} values. */
export const Status = t.keyof(
  Object.fromEntries(INSTANCE_STATUSES.map((s) => [s, null])) as Record<InstanceStatus, null>,
  'Status',
);

/** A map of string to string. */
export const StringMap = t.record(t.string, t.string, 'StringMap');

/**
 * rxdisco's own JSON description of an instance, as the memory registry
 * stores it and the etcd `json` format writes it. It accepts exactly what
 * `createInstance` accepts: the same rules, from `instance.ts`.
 */
export const InstanceRecord = struct(
  { id: InstanceId, service: ServiceName, host: Host, port: Port },
  {
    secure: t.boolean,
    status: Status,
    weight: Weight,
    zone: NonEmptyString,
    tags: t.array(NonEmptyString),
    metadata: StringMap,
  },
  'InstanceRecord',
);

/** The decoded form of {@link InstanceRecord}. */
export type InstanceRecord = t.TypeOf<typeof InstanceRecord>;

/** An instance as the JSON record that {@link InstanceRecord} decodes. */
export const toRecord = (i: Instance): InstanceRecord =>
  ({
    id: i.id,
    service: i.service,
    host: i.host,
    port: i.port,
    secure: i.secure,
    status: i.status,
    weight: i.weight,
    ...(i.zone === undefined ? {} : { zone: i.zone }),
    tags: [...i.tags],
    metadata: { ...i.metadata },
  }) as InstanceRecord;

/**
 * A decoded record as an {@link Instance} of `registry`. With `intern`,
 * its tags, metadata and zone are shared with equal ones decoded before.
 */
export const fromRecord = (r: InstanceRecord, registry: string, intern?: Interner): Instance => {
  if (intern === undefined) {
    return freezeInstance({
      id: r.id,
      service: r.service,
      host: r.host,
      port: r.port,
      secure: r.secure ?? false,
      status: r.status ?? 'UP',
      weight: r.weight ?? 1,
      zone: r.zone,
      tags: r.tags ?? [],
      metadata: r.metadata ?? {},
      registry,
    });
  }
  // The record passed InstanceRecord, whose refinements are the rules of an Instance.
  // Whole literals: an object built by spreading another one freezes into a slow, large one.
  const tags = intern.tags(r.tags ?? []);
  const metadata = intern.metadata(r.metadata === undefined ? {} : { ...r.metadata });
  return Object.freeze(
    r.zone === undefined
      ? {
          id: r.id,
          service: r.service,
          host: r.host,
          port: r.port,
          secure: r.secure ?? false,
          status: r.status ?? 'UP',
          weight: r.weight ?? 1,
          tags,
          metadata,
          registry,
        }
      : {
          id: r.id,
          service: r.service,
          host: r.host,
          port: r.port,
          secure: r.secure ?? false,
          status: r.status ?? 'UP',
          weight: r.weight ?? 1,
          zone: intern.string(r.zone),
          tags,
          metadata,
          registry,
        },
  );
};

/** Decodes an {@link InstanceRecord} value straight into an {@link Instance}. */
export const decodeInstance = (
  value: unknown,
  key: string,
  registry: string,
  service?: string,
  intern?: Interner,
): Decoded<Instance> => {
  const d = decode(InstanceRecord, value, key, { registry, ...(service ? { service } : {}) });
  return d.ok ? { ok: true, value: fromRecord(d.value, registry, intern) } : d;
};

/**
 * Where each field of an {@link Instance} is read from in a backend's
 * payload (`Service.Address`, `hostName`), to name it in a
 * {@link DecodeError}. One constant per backend: nothing is allocated per
 * instance.
 */
export interface InstancePaths {
  readonly id: string;
  readonly service: string;
  readonly host: string;
  readonly port: string;
  readonly weight: string;
  readonly tags: string;
  readonly zone: string;
}

/** An {@link Instance} under construction: the object that becomes it. */
export type InstanceDraft = { -readonly [K in keyof Instance]: Instance[K] };

/** `problems` (made on the first one) with `path: expected rule, got value` added. */
const wrong = (
  problems: string[] | undefined,
  path: string,
  rule: string,
  value: unknown,
): string[] => {
  const list = problems ?? [];
  list.push(`${path}: expected ${rule}, got ${show(value)}`);
  return list;
};

const sortedUnique = (tags: readonly string[]): boolean => {
  for (let i = 1; i < tags.length; i++) if (!(tags[i - 1]! < tags[i]!)) return false;
  return true;
};

/**
 * The one gate from a registry payload to an {@link Instance}: checks
 * `draft` by the rules `createInstance` applies (`isInstanceId`,
 * `isServiceName`, `isHost`, `isPort`, `isWeight`, `isLabel` for each tag
 * and the zone), sorts its tags if needed and freezes it, tags and
 * metadata included. Returns the draft itself, frozen (no copy), or a
 * {@link DecodeError} for `key` naming each wrong field by its path in the
 * payload (`Service.Address: expected Host, got "a b"`). Every backend
 * turns its decoded entries into instances through here.
 */
export const admitInstance = (
  draft: InstanceDraft,
  key: string,
  context: ErrorContext,
  paths: InstancePaths,
): Instance | DecodeError => {
  let problems: string[] | undefined;
  if (typeof draft.id !== 'string' || !isInstanceId(draft.id)) {
    problems = wrong(problems, paths.id, 'InstanceId', draft.id);
  }
  if (typeof draft.service !== 'string' || !isServiceName(draft.service)) {
    problems = wrong(problems, paths.service, 'ServiceName', draft.service);
  }
  if (typeof draft.host !== 'string' || !isHost(draft.host)) {
    problems = wrong(problems, paths.host, 'Host', draft.host);
  }
  if (typeof draft.port !== 'number' || !isPort(draft.port)) {
    problems = wrong(problems, paths.port, 'Port', draft.port);
  }
  if (typeof draft.weight !== 'number' || !isWeight(draft.weight)) {
    problems = wrong(problems, paths.weight, 'Weight', draft.weight);
  }
  const tags = draft.tags;
  for (let i = 0; i < tags.length; i++) {
    const tag = tags[i];
    if (typeof tag !== 'string' || !isLabel(tag)) {
      // The path names the list: a decoder may have sorted it.
      problems = wrong(problems, paths.tags, 'NonEmpty tags', tag);
    }
  }
  if (draft.zone !== undefined && (typeof draft.zone !== 'string' || !isLabel(draft.zone))) {
    problems = wrong(problems, paths.zone, 'NonEmpty', draft.zone);
  }
  if (problems !== undefined) return new DecodeError(key, problems, context);
  if (!sortedUnique(tags)) draft.tags = [...new Set(tags)].sort();
  Object.freeze(draft.tags);
  Object.freeze(draft.metadata);
  return Object.freeze(draft);
};

/** Where a record is stored: its key, and the service and id the key names. */
export interface RecordKey {
  readonly key: string;
  readonly service: string;
  readonly id: string;
}

/**
 * Decodes an {@link InstanceRecord} stored under a key that names its
 * service and id (memory, etcd). A record whose `id` or `service` disagrees
 * with its key is a {@link DecodeError} listing each disagreement. With
 * `intern`, repeated values are shared (see {@link fromRecord}).
 */
export const decodeKeyedInstance = (
  value: unknown,
  at: RecordKey,
  registry: string,
  intern?: Interner,
): Decoded<Instance> => {
  const d = decodeInstance(value, at.key, registry, at.service, intern);
  if (!d.ok) return d;
  const problems: string[] = [];
  const against = (field: 'id' | 'service', expected: string): void => {
    const got = d.value[field];
    if (got !== expected) {
      problems.push(
        `${field}: expected ${JSON.stringify(expected)} (the key), got ${JSON.stringify(got)}`,
      );
    }
  };
  against('id', at.id);
  against('service', at.service);
  return problems.length === 0
    ? d
    : { ok: false, error: new DecodeError(at.key, problems, { registry, service: at.service }) };
};

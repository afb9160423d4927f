/**
 * The format of the EndpointSlices rxdisco writes: labelled
 * `endpointslice.kubernetes.io/managed-by: rxdisco`, one slice per Service,
 * address family and port (`<service>-rxdisco-<family>-<port>`), one
 * endpoint per registered instance, and per endpoint one annotation
 * `rxdisco.io/ep.<hash of its address>` holding a JSON {@link ManagedRecord}:
 * the instance's id, tags, weight and metadata, and when its registrant last
 * renewed it with its TTL. Readers from rxdisco show an endpoint whose
 * renewal is older than its TTL as DOWN (its registrant died); other
 * clients of the slice see its conditions only.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import * as t from 'io-ts';
import { decode } from '../../core/codecs.js';
import type { DecodeError, ErrorContext } from '../../core/errors.js';
import { isInstanceId, isLabel, isWeight } from '../../core/instance.js';

const Id = t.refinement(t.string, isInstanceId, 'InstanceId');
const Positive = t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'PositiveNumber');

/** The label that names the manager of a slice. */
export const MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';

/** The value of {@link MANAGED_BY} on rxdisco's slices. */
export const RXDISCO_MANAGER = 'rxdisco';

/** The prefix of the per-endpoint annotations of rxdisco's slices. */
export const ENDPOINT_ANNOTATION_PREFIX = 'rxdisco.io/ep.';

/** The annotation of the endpoint at `address` in an rxdisco slice. */
export const endpointAnnotation = (address: string): string =>
  `${ENDPOINT_ANNOTATION_PREFIX}${createHash('sha256').update(address).digest('hex').slice(0, 16)}`;

/** What rxdisco keeps about one endpoint it registered (the annotation's JSON). */
export const ManagedRecord = t.intersection([
  t.type({
    id: Id,
    /** Epoch milliseconds of the last renewal. */
    renewedAt: Positive,
    ttlMs: Positive,
  }),
  t.partial({
    tags: t.array(t.refinement(t.string, isLabel, 'Tag')),
    weight: t.refinement(t.number, isWeight, 'Weight'),
    metadata: t.record(t.string, t.string),
  }),
]);

/** A decoded {@link ManagedRecord}. */
export type ManagedRecord = t.TypeOf<typeof ManagedRecord>;

/** True when `labels` mark a slice as rxdisco's. */
export const isManaged = (labels: Readonly<Record<string, string>> | null | undefined): boolean =>
  labels?.[MANAGED_BY] === RXDISCO_MANAGER;

/**
 * The record of the endpoint at `address` in an rxdisco slice: undefined
 * when it has none (an endpoint someone else added), a `DecodeError` when
 * the annotation is not a record.
 */
export const managedRecord = (
  annotations: Readonly<Record<string, string>> | null | undefined,
  address: string,
  key: string,
  context: ErrorContext,
): { ok: true; value: ManagedRecord | undefined } | { ok: false; error: DecodeError } => {
  const text = annotations?.[endpointAnnotation(address)];
  if (text === undefined) return { ok: true, value: undefined };
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: reported by the decode below, with the text as the value
  }
  return decode(ManagedRecord, json, `${key} annotation of ${address}`, context);
};

/** The name of rxdisco's slice of `service` for one address family and port. */
export const managedSliceName = (
  service: string,
  family: 'IPv4' | 'IPv6' | 'FQDN',
  port: number,
): string => `${service}-rxdisco-${family.toLowerCase()}-${port}`;

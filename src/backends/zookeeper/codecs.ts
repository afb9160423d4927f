/**
 * The ZooKeeper node layouts, decoded with io-ts (the backend's one seam).
 * Every instance is a child of `<base>/<service>`; its layout is detected
 * per node from its data:
 *
 * - **curator**: a JSON `ServiceInstance` as Curator's `ServiceDiscovery`
 *   and Spring Cloud Zookeeper write it (`name`, `id`, `address`, `port`,
 *   `sslPort`, `payload`, `registrationTimeUTC`, `serviceType`, `uriSpec`);
 *   Spring's `payload.metadata` is the instance metadata, its
 *   `instance_status` the status. The node name is the id.
 * - **gokit**: go-kit `sd/zk`, an ephemeral sequential node whose data is
 *   the address (`10.0.0.1:8080`, `http://host:port`); the node name is the id.
 *
 * @module
 */
import * as t from 'io-ts';
import {
  admitInstance,
  type Decoded,
  decode,
  decodeJson,
  ENTRY_LIMITS,
  StringMap,
  struct,
} from '../../core/codecs.js';
import { DecodeError } from '../../core/errors.js';
import type { Instance, InstanceStatus } from '../../core/instance.js';
import { INSTANCE_STATUSES } from '../../core/instance.js';
import { AddressString } from '../etcd/codecs.js';
import type { ZookeeperFormat } from './url.js';

/** Spring Cloud Zookeeper's payload (`ZookeeperInstance`): its metadata is the instance's. */
export const SpringPayload = struct(
  {},
  { id: t.string, name: t.string, metadata: StringMap },
  'ZookeeperInstance',
);

/** A Curator `ServiceInstance`, as `JsonInstanceSerializer` writes it. */
export const CuratorInstance = struct(
  { name: t.string, id: t.string, address: t.string },
  {
    port: t.number,
    sslPort: t.number,
    payload: t.unknown,
    registrationTimeUTC: t.number,
    serviceType: t.string,
    uriSpec: t.unknown,
    enabled: t.boolean,
  },
  'ServiceInstance',
);

/** The metadata key Spring Cloud Zookeeper keeps an instance's status under. */
export const STATUS_KEY = 'instance_status';

/** The metadata key a payload that is not Spring's is kept under, as its JSON text. */
export const PAYLOAD_KEY = 'curator.payload';

/** Where a node lives: its path, the service (its parent's name) and the node name (the id). */
export interface NodeKey {
  readonly path: string;
  readonly service: string;
  readonly id: string;
}

const PATHS = {
  id: 'id',
  service: 'name',
  host: 'address',
  port: 'port',
  weight: 'payload.metadata.weight',
  tags: 'tags',
  zone: 'payload.metadata.zone',
};
const GOKIT_PATHS = { ...PATHS, host: '(value)', port: '(value)' };

const statusOf = (s: string | undefined): InstanceStatus =>
  s !== undefined && (INSTANCE_STATUSES as readonly string[]).includes(s.toUpperCase())
    ? (s.toUpperCase() as InstanceStatus)
    : 'UP';

const decodeCurator = (node: NodeKey, text: string, registry: string): Decoded<Instance> => {
  const context = { registry, service: node.service };
  const d = decodeJson(CuratorInstance, text, node.path, context, ENTRY_LIMITS);
  if (!d.ok) return d;
  const si = d.value;
  const problems: string[] = [];
  if (si.id !== node.id)
    problems.push(
      `id: expected ${JSON.stringify(node.id)} (the node name), got ${JSON.stringify(si.id)}`,
    );
  if (si.name !== node.service)
    problems.push(
      `name: expected ${JSON.stringify(node.service)} (the parent node), got ${JSON.stringify(si.name)}`,
    );
  const secure = si.port === undefined && si.sslPort !== undefined;
  const port = si.port ?? si.sslPort;
  if (port === undefined) problems.push('port: expected a port or an sslPort, got nothing');
  if (problems.length > 0)
    return { ok: false, error: new DecodeError(node.path, problems, context) };
  let metadata: Record<string, string> = {};
  if (si.payload !== undefined) {
    const p = SpringPayload.is(si.payload) ? si.payload : undefined;
    if (p?.metadata !== undefined) metadata = { ...p.metadata };
    // Another payload class: kept whole, as its JSON text, never coerced.
    else if (p === undefined) metadata = { [PAYLOAD_KEY]: JSON.stringify(si.payload) };
  }
  const weight = metadata.weight === undefined ? 1 : Number(metadata.weight);
  const instance = admitInstance(
    {
      id: si.id,
      service: si.name,
      host: si.address,
      port: port as number,
      secure,
      status: si.enabled === false ? 'OUT_OF_SERVICE' : statusOf(metadata[STATUS_KEY]),
      weight,
      zone: metadata.zone,
      tags: [],
      metadata,
      registry,
    },
    node.path,
    context,
    PATHS,
  );
  return instance instanceof DecodeError
    ? { ok: false, error: instance }
    : { ok: true, value: instance };
};

const decodeGokit = (node: NodeKey, text: string, registry: string): Decoded<Instance> => {
  const context = { registry, service: node.service };
  const a = decode(AddressString, text.trim(), node.path, context, ENTRY_LIMITS);
  if (!a.ok) return a;
  const instance = admitInstance(
    {
      id: node.id,
      service: node.service,
      host: a.value.host,
      port: a.value.port,
      secure: a.value.secure,
      status: 'UP',
      weight: 1,
      zone: undefined,
      tags: [],
      metadata: {},
      registry,
    },
    node.path,
    context,
    GOKIT_PATHS,
  );
  return instance instanceof DecodeError
    ? { ok: false, error: instance }
    : { ok: true, value: instance };
};

/**
 * Decodes the data of one instance node, detecting its layout: a JSON
 * object is a Curator `ServiceInstance`, anything else a go-kit address.
 * Data larger or nested deeper than {@link ENTRY_LIMITS} is a
 * {@link DecodeError}, never parsed past the limit, never thrown.
 */
export const decodeNode = (
  node: NodeKey,
  data: Buffer | undefined,
  registry: string,
): Decoded<Instance> => {
  const context = { registry, service: node.service };
  if (data === undefined || data.length === 0) {
    return {
      ok: false,
      error: new DecodeError(
        node.path,
        ['(value): expected a ServiceInstance or an address, got nothing'],
        context,
      ),
    };
  }
  if (data.length > ENTRY_LIMITS.maxBytes) {
    return {
      ok: false,
      error: new DecodeError(
        node.path,
        [`(value): expected at most ${ENTRY_LIMITS.maxBytes} bytes, got ${data.length}`],
        context,
      ),
    };
  }
  const text = data.toString('utf8');
  return text.trimStart().startsWith('{')
    ? decodeCurator(node, text, registry)
    : decodeGokit(node, text, registry);
};

/** The `uriSpec` Spring Cloud Zookeeper writes: `{scheme}://{address}:{port}`. */
const URI_SPEC = {
  parts: [
    { value: 'scheme', variable: true },
    { value: '://', variable: false },
    { value: 'address', variable: true },
    { value: ':', variable: false },
    { value: 'port', variable: true },
  ],
};

/** The class Spring Cloud Zookeeper's serializer reads a payload as. */
export const SPRING_PAYLOAD_CLASS =
  'org.springframework.cloud.zookeeper.discovery.ZookeeperInstance';

/**
 * The node data rxdisco writes for `instance` in `format`: a Curator
 * `ServiceInstance` with Spring's payload (metadata, zone and status in
 * `payload.metadata`), or go-kit's plain address (`https://` when secure).
 */
export const encodeNode = (instance: Instance, format: ZookeeperFormat, now: number): Buffer => {
  const address = AddressString.encode(instance);
  if (format === 'gokit')
    return Buffer.from(instance.secure ? `https://${address}` : address, 'utf8');
  const metadata: Record<string, string> = {
    ...instance.metadata,
    ...(instance.zone === undefined ? {} : { zone: instance.zone }),
    ...(instance.weight === 1 ? {} : { weight: String(instance.weight) }),
    [STATUS_KEY]: instance.status,
  };
  return Buffer.from(
    JSON.stringify({
      name: instance.service,
      id: instance.id,
      address: instance.host,
      port: instance.secure ? null : instance.port,
      sslPort: instance.secure ? instance.port : null,
      payload: {
        '@class': SPRING_PAYLOAD_CLASS,
        id: instance.service,
        name: instance.service,
        metadata,
      },
      registrationTimeUTC: now,
      serviceType: 'DYNAMIC',
      uriSpec: URI_SPEC,
    }),
    'utf8',
  );
};

/**
 * The one file that knows `@grpc/grpc-js/experimental` (the resolver and
 * load-balancer API that grpc-js's maintainers do not promise to keep):
 * it turns the channel balancer (`balancer.ts`) into a grpc-js load
 * balancer and a resolver session into a grpc-js resolver, for grpc-js
 * 1.13 and 1.14 alike. What changed between them (grpc-node PR #2925):
 *
 * - 1.14's resolver listener is a function taking `StatusOr<Endpoint[]>`
 *   and returning a boolean; 1.13's is an object with
 *   `onSuccessfulResolution(...)` and `onError(status)`;
 * - 1.14's `LoadBalancer.updateAddressList` takes a `StatusOr` (and a
 *   resolution note) and returns a boolean; 1.13's takes the endpoint list;
 * - 1.14's `onCallEnded` gets `(code, details, metadata)`, 1.13's `(code)`.
 *
 * The grpc-js module is injected (`registerRxdiscoResolver(d, { grpc })`),
 * so that a process, or a test, chooses which copy of grpc-js to drive;
 * without one, the installed `@grpc/grpc-js` is used.
 *
 * @module
 */
import * as installedGrpc from '@grpc/grpc-js';
import type { InstanceSet } from '../core/instance-set.js';
import { ChannelBalancer, type ChannelPolicy, type ConnState } from './balancer.js';

/**
 * The part of the `@grpc/grpc-js` module rxdisco uses, written so that the
 * module of grpc-js 1.13.x and of 1.14.x both fit:
 * `import * as grpc from '@grpc/grpc-js'` gives one.
 */
export interface GrpcModule {
  readonly experimental: {
    registerResolver(scheme: string, resolverClass: unknown): void;
    registerLoadBalancerType(typeName: string, lb: unknown, config: unknown): void;
    readonly QueuePicker: new (loadBalancer: never) => unknown;
    readonly PickResultType: {
      readonly COMPLETE: number;
      readonly TRANSIENT_FAILURE: number;
    };
  };
  readonly connectivityState: {
    readonly IDLE: number;
    readonly CONNECTING: number;
    readonly READY: number;
    readonly TRANSIENT_FAILURE: number;
    readonly SHUTDOWN: number;
  };
  readonly status: { readonly UNAVAILABLE: number };
  readonly Metadata: new () => unknown;
}

/** The load-balancing policy name rxdisco registers in grpc-js. */
export const LB_NAME = 'rxdisco';
const SET_KEY = 'rxdisco.internal.set';
const POLICY_KEY = 'rxdisco.internal.policy';

/** The grpc-js installed beside rxdisco (the default of `grpc`). */
export const defaultGrpc = (): GrpcModule => installedGrpc as unknown as GrpcModule;

// Loosely typed views of grpc-js objects, for the two versions.
interface Subchannel {
  getConnectivityState(): number;
  addConnectivityStateListener(l: (...args: unknown[]) => void): void;
  removeConnectivityStateListener(l: (...args: unknown[]) => void): void;
  startConnecting(): void;
  ref(): void;
  unref(): void;
}
interface Helper {
  createSubchannel(address: { host: string; port: number }, options: object): Subchannel;
  updateState(state: number, picker: unknown, errorMessage: string | null): void;
}
interface PickArgs {
  readonly metadata: { get(key: string): unknown[] };
}
type StatusOr<T> = { ok: true; value: T } | { ok: false; error: { details: string } };

const installed = new WeakSet<GrpcModule>();

/** Registers the `rxdisco` load-balancing policy in `grpc` (once per module). */
const installBalancer = (grpc: GrpcModule): void => {
  if (installed.has(grpc)) return;
  installed.add(grpc);
  const cs = grpc.connectivityState;
  const states = new Map<number, ConnState>([
    [cs.IDLE, 'idle'],
    [cs.CONNECTING, 'connecting'],
    [cs.READY, 'ready'],
    [cs.TRANSIENT_FAILURE, 'failure'],
    [cs.SHUTDOWN, 'shutdown'],
  ]);
  const { PickResultType, QueuePicker } = grpc.experimental;
  const failedPick = (details: string) => {
    const metadata = new grpc.Metadata();
    return {
      pickResultType: PickResultType.TRANSIENT_FAILURE,
      subchannel: null,
      status: { code: grpc.status.UNAVAILABLE, details, metadata },
      onCallStarted: null,
      onCallEnded: null,
    };
  };

  class RxdiscoLoadBalancer {
    readonly #helper: Helper;
    readonly #core: ChannelBalancer;
    #options: object = {};

    constructor(helper: Helper) {
      this.#helper = helper;
      this.#core = new ChannelBalancer({
        connect: (host, port, changed) => {
          const sub = helper.createSubchannel({ host, port }, this.#options);
          const listener = () => changed();
          sub.addConnectivityStateListener(listener);
          sub.ref();
          return {
            handle: sub,
            state: () => states.get(sub.getConnectivityState()) ?? 'shutdown',
            connect: () => sub.startConnecting(),
            release: () => {
              sub.removeConnectivityStateListener(listener);
              sub.unref();
            },
          };
        },
        publish: (state, details) => {
          if (state === 'ready') {
            helper.updateState(cs.READY, { pick: (args: PickArgs) => this.#pick(args) }, null);
          } else if (state === 'connecting') {
            helper.updateState(cs.CONNECTING, new QueuePicker(this as never), null);
          } else {
            const picked = failedPick(details);
            helper.updateState(cs.TRANSIENT_FAILURE, { pick: () => picked }, details);
          }
        },
      });
    }

    #pick(args: PickArgs) {
      const header = this.#core.keyHeader;
      const value = header === undefined ? undefined : args.metadata.get(header)[0];
      const picked = this.#core.pick(typeof value === 'string' ? value : undefined);
      if (picked === undefined) return failedPick('no READY instance was picked');
      return {
        pickResultType: PickResultType.COMPLETE,
        subchannel: picked.conn.handle,
        status: null,
        onCallStarted: picked.started,
        onCallEnded: (code: number) => picked.ended(code),
      };
    }

    // 1.14: (StatusOr<Endpoint[]>, config, options, note) => boolean; 1.13: (Endpoint[], config, options) => void
    updateAddressList(list: unknown, _config: unknown, options: Record<string, unknown>): boolean {
      const result = (Array.isArray(list) ? { ok: true, value: list } : list) as StatusOr<unknown>;
      const set = options[SET_KEY] as InstanceSet | undefined;
      const policy = options[POLICY_KEY] as ChannelPolicy | undefined;
      if (!result.ok || set === undefined || policy === undefined) {
        const details = result.ok
          ? `the ${LB_NAME} load-balancing policy works only under an rxdisco resolver target`
          : result.error.details;
        const picked = failedPick(details);
        this.#helper.updateState(cs.TRANSIENT_FAILURE, { pick: () => picked }, details);
        return true;
      }
      const { [SET_KEY]: _set, [POLICY_KEY]: _policy, ...channelOptions } = options;
      this.#options = channelOptions;
      this.#core.update(set, policy);
      return true;
    }

    exitIdle(): void {
      this.#core.exitIdle();
    }

    resetBackoff(): void {}

    destroy(): void {
      this.#core.destroy();
    }

    getTypeName(): string {
      return LB_NAME;
    }
  }

  class RxdiscoLbConfig {
    getLoadBalancerName(): string {
      return LB_NAME;
    }
    toJsonObject(): object {
      return { [LB_NAME]: {} };
    }
    static createFromJson(): RxdiscoLbConfig {
      return new RxdiscoLbConfig();
    }
  }

  grpc.experimental.registerLoadBalancerType(LB_NAME, RxdiscoLoadBalancer, RxdiscoLbConfig);
};

/** What a resolver session reports to its channel. */
export interface ResolutionSink {
  /** A fresh set: its instances are the channel's addresses. */
  resolved(set: InstanceSet): void;
  /** No set to give (the registry is away and nothing was known, or a permanent fault). */
  failed(details: string): void;
}

/** Starts watching `service` for one channel; returns the function that stops it. */
export type OpenSession = (service: string, sink: ResolutionSink) => () => void;

interface GrpcUri {
  readonly path: string;
}

/** The service a target names: `rxdisco:///hello` and `rxdisco:hello` name `hello`. */
export const serviceOfTarget = (target: GrpcUri): string => target.path.replace(/^\/+/, '');

const channelServiceConfig = (options: Record<string, unknown>): Record<string, unknown> => {
  const own = options['grpc.service_config'];
  let parsed: Record<string, unknown> = {};
  if (typeof own === 'string') {
    try {
      parsed = JSON.parse(own) as Record<string, unknown>;
    } catch {
      // grpc-js reports an unparsable grpc.service_config itself
    }
  }
  return {
    ...parsed,
    methodConfig: Array.isArray(parsed.methodConfig) ? parsed.methodConfig : [],
    loadBalancingConfig: [{ [LB_NAME]: {} }],
  };
};

/**
 * Registers `scheme` in `grpc`: each channel of a `scheme:///service`
 * target opens a session; its fresh sets become the channel's addresses,
 * under the `rxdisco` load-balancing policy with `policy`.
 */
export const installResolver = (
  grpc: GrpcModule,
  scheme: string,
  policy: ChannelPolicy,
  open: OpenSession,
): void => {
  installBalancer(grpc);
  const status = grpc.status;

  class RxdiscoResolver {
    readonly #service: string;
    readonly #listener: unknown;
    readonly #serviceConfig: Record<string, unknown>;
    #stop: (() => void) | undefined;
    #last: (() => void) | undefined;
    #destroyed = false;

    constructor(target: GrpcUri, listener: unknown, options: Record<string, unknown>) {
      this.#service = serviceOfTarget(target);
      this.#listener = listener;
      this.#serviceConfig = channelServiceConfig(options);
    }

    #report(set: InstanceSet): void {
      const endpoints = set.instances.map((i) => ({ addresses: [{ host: i.host, port: i.port }] }));
      const attributes = { [SET_KEY]: set, [POLICY_KEY]: policy };
      const config = this.#serviceConfig;
      if (typeof this.#listener === 'function') {
        this.#listener({ ok: true, value: endpoints }, attributes, { ok: true, value: config }, '');
      } else {
        (this.#listener as Listener113).onSuccessfulResolution(
          endpoints,
          config,
          null,
          null,
          attributes,
        );
      }
    }

    #fail(details: string): void {
      const error = { code: status.UNAVAILABLE, details, metadata: new grpc.Metadata() };
      if (typeof this.#listener === 'function') {
        this.#listener({ ok: false, error }, {}, null, details);
      } else {
        (this.#listener as Listener113).onError(error);
      }
    }

    updateResolution(): void {
      if (this.#destroyed) return;
      if (this.#stop !== undefined) {
        this.#last?.();
        return;
      }
      this.#stop = open(this.#service, {
        resolved: (set) => {
          this.#last = () => this.#report(set);
          if (!this.#destroyed) this.#last();
        },
        failed: (details) => {
          this.#last = () => this.#fail(details);
          if (!this.#destroyed) this.#last();
        },
      });
    }

    destroy(): void {
      this.#destroyed = true;
      this.#stop?.();
      this.#stop = undefined;
      this.#last = undefined;
    }

    static getDefaultAuthority(target: GrpcUri): string {
      return serviceOfTarget(target);
    }
  }

  grpc.experimental.registerResolver(scheme, RxdiscoResolver);
};

interface Listener113 {
  onSuccessfulResolution(
    endpoints: unknown[],
    serviceConfig: unknown,
    serviceConfigError: null,
    configSelector: null,
    attributes: Record<string, unknown>,
  ): void;
  onError(error: unknown): void;
}

/**
 * Child of `eureka-peer.bench.ts`: the `eureka-js-client` npm package
 * (4.5.0) fetching the registry, in its own process. `delta` in the config
 * is its `shouldUseDelta` (false by default: a full `GET /apps` every
 * interval). See `eureka-child-io.ts`.
 *
 * eureka-js-client has no event for a delta (`registryUpdated` is emitted
 * for full fetches only), so `fetchRegistry` is wrapped: the probe
 * application is read once right after each refresh has been applied (no
 * timer polling, which would cost this process CPU and add latency).
 */
import { createRequire } from 'node:module';
import {
  childConfig,
  now,
  refreshed,
  seenReporter,
  send,
  serveCommands,
} from './eureka-child-io.js';

type Callback = (error?: unknown) => void;

/** The part of eureka-js-client 4.5.0 used here (the package has no types). */
interface EurekaJsClient {
  start(callback: Callback): void;
  stop(callback: Callback): void;
  getInstancesByAppId(appId: string): { instanceId?: string; hostName: string }[];
  fetchRegistry(callback?: Callback): void;
  fetchFullRegistry(callback?: Callback): void;
  fetchDelta(callback?: Callback): void;
}

const require = createRequire(import.meta.url);
const { Eureka } = require('eureka-js-client') as {
  Eureka: new (config: Record<string, unknown>) => EurekaJsClient;
};

const config = childConfig();
const base = new URL(config.base);
const quiet = (): void => undefined;
const client = new Eureka({
  logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  shouldUseDelta: config.delta === true,
  eureka: {
    host: base.hostname,
    port: Number(base.port),
    servicePath: `${base.pathname.replace(/\/$/, '')}/apps/`,
    registryFetchInterval: config.interval,
    fetchRegistry: true,
    registerWithEureka: false,
  },
  instance: {},
});

const EurekaProto = Object.getPrototypeOf(client) as EurekaJsClient;
const counted =
  (method: 'fetchFullRegistry' | 'fetchDelta', kind: 'full' | 'delta') =>
  (callback: Callback = quiet): void => {
    EurekaProto[method].call(client, (error?: unknown) => {
      if (error === undefined || error === null) refreshed(kind);
      callback(error);
    });
  };
client.fetchFullRegistry = counted('fetchFullRegistry', 'full');
client.fetchDelta = counted('fetchDelta', 'delta');

const report = seenReporter();
client.fetchRegistry = (callback: Callback = quiet): void => {
  EurekaProto.fetchRegistry.call(client, (error?: unknown) => {
    report(client.getInstancesByAppId(config.probe).map((i) => i.instanceId ?? i.hostName));
    callback(error);
  });
};

client.start((error) => {
  if (error !== undefined && error !== null) {
    send({ type: 'error', message: String(error) });
    process.exit(1);
  }
  send({ type: 'ready', at: now() });
});
serveCommands(() => new Promise<void>((resolve) => client.stop(() => resolve())));

/**
 * The gateway's test bench: a memory registry, real upstream servers and
 * the gateway on a real `node:http` server, all on 127.0.0.1 with random
 * ports; raw-socket requests for what an HTTP client would not send.
 */
import {
  type Agent,
  createServer,
  type IncomingHttpHeaders,
  request,
  type Server,
} from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import { type MemoryRegistry, memoryRegistry } from '../../../src/backends/memory/store.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import { toRecord } from '../../../src/core/codecs.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { createInstance } from '../../../src/core/instance.js';
import { type Gateway, type GatewayOptions, gateway } from '../../../src/gateway/index.js';

let registries = 0;

/** A fresh memory registry, and a way to add and remove instances. */
export const memory = () => {
  const name = `gateway-${++registries}`;
  const store: MemoryRegistry = memoryRegistry(name);
  const discovery: Discovery = memoryDiscovery(store, { graceMs: 10, onProblem: () => undefined });
  const add = (service: string, id: string, port: number, extra: Record<string, unknown> = {}) =>
    store.put(
      service,
      id,
      toRecord(
        createInstance({ service, id, host: '127.0.0.1', port, ...extra }, `memory://${name}`),
      ),
    );
  const remove = (service: string, id: string) => store.delete(service, id);
  return { discovery, store, add, remove, registry: `memory://${name}` };
};

/** Listens on 127.0.0.1:0 (a server of the test's own); its port. `cleanups` gets its closing. */
export const listenOn = async (
  server: Server,
  cleanups: (() => Promise<void>)[],
): Promise<number> => {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
};

/** A gateway on a real server. */
export interface Running {
  readonly gw: Gateway;
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/** No backoff delay and no budget: retries happen at once in tests. */
export const FAST_RETRY = {
  budget: false,
  backoff: exponentialBackoff({ random: () => 0 }),
} as const;

/** Starts `gateway(discovery, options)` on 127.0.0.1:0 with every listener the CLI installs. */
export const startGateway = async (
  discovery: Discovery,
  options: GatewayOptions = {},
): Promise<Running> => {
  const gw = gateway(discovery, { retry: FAST_RETRY, ...options });
  const server = createServer(gw);
  server.on('checkContinue', gw).on('upgrade', gw.upgrade).on('clientError', gw.clientError);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    gw,
    server,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gw.close();
    },
  };
};

/** A response read whole. */
export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  json(): Record<string, unknown>;
}

/** `GET`s (or whatever `method`) `path` on the gateway with node:http, without keep-alive. */
export const get = (
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent } = {},
): Promise<Answer> =>
  new Promise<Answer>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body) as Record<string, unknown>,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });

/** Asks `path` until the answer passes `done` (a registry change propagating), for at most `withinMs`. */
export const askUntil = async (
  port: number,
  path: string,
  done: (a: Answer) => boolean,
  withinMs = 10_000,
): Promise<Answer> => {
  const deadline = Date.now() + withinMs;
  let answer = await get(port, path);
  while (!done(answer) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    answer = await get(port, path);
  }
  return answer;
};

/** Sends `bytes` on a raw connection and resolves with everything read until the server closes it. */
export const raw = (port: number, bytes: string): Promise<string> =>
  new Promise<string>((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(bytes, 'latin1');
  });

/** The status code of a raw HTTP response. */
export const statusOf = (response: string): number =>
  Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);

/** The JSON body of a raw HTTP response. */
export const bodyOf = (response: string): Record<string, unknown> =>
  JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;

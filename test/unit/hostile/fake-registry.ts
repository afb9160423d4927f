/**
 * A fake registry on loopback for the hostile-registry suite: a `node:http`
 * server on 127.0.0.1, port 0, whose routes answer with the real shapes of
 * Consul and Eureka (the recorded fixtures), one fault at a time. Every
 * request is counted; `close()` destroys every socket.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Answers one request; `url` is parsed against the server. */
export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

/** A running fake registry. */
export interface FakeRegistry {
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  /** Requests seen, by `METHOD /path`. */
  readonly hits: Map<string, number>;
  /** Stops the server and destroys its sockets. */
  close(): Promise<void>;
}

/** Starts a fake registry; a request whose `METHOD /path` has no route answers 404. */
export const fakeRegistry = async (routes: Record<string, Route>): Promise<FakeRegistry> => {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const key = `${req.method} ${url.pathname}`;
    hits.set(key, (hits.get(key) ?? 0) + 1);
    const route = routes[key];
    if (route === undefined) {
      res.writeHead(404).end();
      return;
    }
    route(req, res, url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

/** Sends `body` as JSON with `headers`. */
export const json = (res: ServerResponse, body: string, headers: Record<string, string> = {}) => {
  res.writeHead(200, { 'content-type': 'application/json', ...headers });
  res.end(body);
};

/** A recorded payload of the backend tests (`consul/health-passing.json`, `eureka/full.json`). */
export const recorded = (path: string): string =>
  readFileSync(new URL(`../backends/${path.replace('/', '/fixtures/')}`, import.meta.url), 'utf8');

/** `[[[...]]]`, `levels` deep: what broke `show()` at about 4,100 levels. */
export const nested = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;

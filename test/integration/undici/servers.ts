/**
 * Real loopback HTTP servers for the dispatcher's tests: each records the
 * requests and connections it saw, and answers with what the test asks.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What a test server does with one request. */
export type Behaviour = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A request a test server received. */
export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly body: string;
}

/** A running loopback server. */
export interface TestServer {
  readonly port: number;
  readonly seen: Seen[];
  /** Connections accepted so far. */
  connections: number;
  /** Connections still open. */
  readonly open: Set<Socket>;
  behaviour: Behaviour;
  close(): Promise<void>;
}

/** Answers `<name> <method> <url>` as text. */
export const echo =
  (name: string): Behaviour =>
  (req, res) => {
    res.end(`${name} ${req.method} ${req.url}`);
  };

/** Starts a server on 127.0.0.1 with a random free port. */
export const startServer = async (behaviour: Behaviour): Promise<TestServer> => {
  const seen: Seen[] = [];
  const open = new Set<Socket>();
  const state = { behaviour, connections: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', body });
      state.behaviour(req, res, body);
    });
  });
  server.on('connection', (socket: Socket) => {
    state.connections++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    seen,
    open,
    get connections() {
      return state.connections;
    },
    set connections(n: number) {
      state.connections = n;
    },
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(b: Behaviour) {
      state.behaviour = b;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
};

/** A port nothing listens on (bound, then released). */
export const closedPort = async (): Promise<number> => {
  const s = await startServer(() => undefined);
  await s.close();
  return s.port;
};

/**
 * The demo's `hello` service: a tiny HTTP server on 127.0.0.1, port 0.
 *
 * @module
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running demo HTTP server. */
export interface HelloServer {
  /** The instance name it answers with (`hello-1`). */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Stops listening and drops open connections; resolves when closed. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a server answering every request with `hello from <name>`.
 *
 * @example
 * ```ts
 * const server = await startHelloServer('hello-1');
 * await fetch(`http://${server.host}:${server.port}/`); // 'hello from hello-1'
 * await server.close();
 * ```
 */
export const startHelloServer = (name: string, host = '127.0.0.1'): Promise<HelloServer> =>
  new Promise((resolve, reject) => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`hello from ${name}\n`);
    });
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      return closing;
    };
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      resolve({ name, host, port, close });
    });
  });

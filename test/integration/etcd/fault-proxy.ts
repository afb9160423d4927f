/**
 * A TCP proxy between a client and a server that tests can cut: `block()`
 * resets every open connection and refuses new ones until `unblock()`.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class FaultProxy {
  #blocked = false;
  readonly #sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Starts a proxy on a random port of 127.0.0.1 in front of `target` (`host:port`). */
  static async start(target: string): Promise<FaultProxy> {
    const [host, port] = target.split(':') as [string, string];
    let proxy: FaultProxy | undefined;
    const server = createServer((client) => {
      if (proxy === undefined || proxy.#blocked) {
        client.resetAndDestroy();
        return;
      }
      const upstream = connect(Number(port), host);
      const sockets = proxy.#sockets;
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    proxy = new FaultProxy(server, typeof address === 'object' && address ? address.port : 0);
    return proxy;
  }

  /** `127.0.0.1:port` to give the client. */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Resets every connection and refuses new ones. */
  block(): void {
    this.#blocked = true;
    for (const s of this.#sockets) s.resetAndDestroy();
    this.#sockets.clear();
  }

  /** Accepts connections again. */
  unblock(): void {
    this.#blocked = false;
  }

  /** Closes the proxy and every connection. */
  async close(): Promise<void> {
    this.block();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

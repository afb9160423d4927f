/**
 * A TCP proxy in front of one Consul agent that counts, from outside the
 * code under test, what a client does to the agent: connections opened
 * and open at most at once, HTTP requests (by path), 429 answers, and the
 * bytes the agent sent.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

const REQUEST = /(?:^|\r\n\r\n)(?:GET|PUT|POST|DELETE) (\/v1\/[^ ?]*)/g;
const STATUS = /(?:^|\r\n)HTTP\/1\.1 (\d{3}) /g;

/** What a {@link CountingProxy} has seen so far. */
export interface ProxyCounts {
  /** TCP connections accepted in all. */
  readonly opened: number;
  /** TCP connections open now. */
  readonly open: number;
  /** Most TCP connections open at once. */
  readonly maxOpen: number;
  /** HTTP requests sent. */
  readonly requests: number;
  /** Answers with status 429. */
  readonly tooMany: number;
  /** Bytes sent by the agent. */
  readonly bytesIn: number;
}

export class CountingProxy {
  readonly #sockets = new Set<Socket>();
  #opened = 0;
  #open = 0;
  #maxOpen = 0;
  #requests = 0;
  #tooMany = 0;
  #bytesIn = 0;
  /** Requests per path (`/v1/health/service/x`). */
  readonly paths = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Starts a proxy on a random port of 127.0.0.1 in front of `127.0.0.1:targetPort`. */
  static async start(targetPort: number): Promise<CountingProxy> {
    let proxy: CountingProxy | undefined;
    const server = createServer((client) => {
      const p = proxy!;
      p.#opened++;
      p.#open++;
      p.#maxOpen = Math.max(p.#maxOpen, p.#open);
      const upstream = connect(targetPort, '127.0.0.1');
      let closed = false;
      const done = (): void => {
        if (closed) return;
        closed = true;
        p.#open--;
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) {
        p.#sockets.add(s);
        s.on('close', () => {
          p.#sockets.delete(s);
          done();
        });
        s.on('error', done);
      }
      client.on('data', (chunk: Buffer) => {
        for (const m of chunk.toString('latin1').matchAll(REQUEST)) {
          p.#requests++;
          p.paths.set(m[1]!, (p.paths.get(m[1]!) ?? 0) + 1);
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        p.#bytesIn += chunk.length;
        for (const m of chunk.toString('latin1').matchAll(STATUS)) {
          if (m[1] === '429') p.#tooMany++;
        }
        client.write(chunk);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    proxy = new CountingProxy(server, typeof address === 'object' && address ? address.port : 0);
    return proxy;
  }

  /** `127.0.0.1:port` to give the client. */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The counts so far. */
  counts(): ProxyCounts {
    return {
      opened: this.#opened,
      open: this.#open,
      maxOpen: this.#maxOpen,
      requests: this.#requests,
      tooMany: this.#tooMany,
      bytesIn: this.#bytesIn,
    };
  }

  /** Closes the proxy and every connection through it. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

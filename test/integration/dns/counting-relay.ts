/**
 * A UDP relay in front of a DNS server that counts the queries it forwards:
 * how the tests and the benchmark see how often a client asks, on the wire.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';

/** A running relay. */
export interface CountingRelay {
  /** `127.0.0.1:<port>`: point the client here. */
  readonly address: string;
  /** Queries forwarded so far. */
  readonly count: number;
  /** Stops it. */
  close(): Promise<void>;
}

/** Starts a relay on a random port forwarding to `127.0.0.1:serverPort`. */
export const startCountingRelay = (serverPort: number): Promise<CountingRelay> =>
  new Promise((resolve, reject) => {
    const front = createSocket('udp4');
    const upstreams = new Set<ReturnType<typeof createSocket>>();
    let count = 0;
    front.on('message', (query: Buffer, from: RemoteInfo) => {
      count++;
      const up = createSocket('udp4');
      upstreams.add(up);
      const done = (): void => {
        upstreams.delete(up);
        up.close();
      };
      up.once('message', (answer) => {
        front.send(answer, from.port, from.address);
        done();
      });
      up.once('error', done);
      up.send(query, serverPort, '127.0.0.1');
    });
    front.once('error', reject);
    front.bind(0, '127.0.0.1', () => {
      const port = front.address().port;
      resolve({
        address: `127.0.0.1:${port}`,
        get count() {
          return count;
        },
        close: () =>
          new Promise<void>((r) => {
            for (const u of upstreams) u.close();
            front.close(() => r());
          }),
      });
    });
  });

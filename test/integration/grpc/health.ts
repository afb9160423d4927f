/**
 * `grpc.health.v1.Health/Check` on the wire, for the grpc-go interop tests
 * (grpc-go ships that service; its messages are one field each):
 * a client as generated code makes it and a grpc-js server that answers
 * SERVING with the header `x-server: <name>`.
 */
import type * as grpc14 from '@grpc/grpc-js';
import { decodeMsg, encodeMsg, type Grpc } from './echo.js';

/** HealthCheckResponse.status: field 1, varint (SERVING = 1). */
const encodeStatus = (status: number): Buffer => Buffer.from([0x08, status]);
const decodeStatus = (buf: Buffer): number => (buf.length >= 2 && buf[0] === 0x08 ? buf[1]! : 0);

const HEALTH = {
  check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeMsg,
    requestDeserialize: decodeMsg,
    responseSerialize: encodeStatus,
    responseDeserialize: decodeStatus,
  },
} as const;

/** One Check call: the status (1 = SERVING) and the x-server header of the answer. */
export const check = (
  grpc: Grpc,
  client: grpc14.Client,
): Promise<{ status: number; server: string }> =>
  new Promise((resolve, reject) => {
    let server = '';
    const metadata = new grpc.Metadata();
    metadata.setOptions({ waitForReady: true });
    // biome-ignore lint/suspicious/noExplicitAny: the generic client's methods are untyped
    const call = (client as any).check(
      'rxdisco',
      metadata,
      { deadline: Date.now() + 15_000 },
      (e: Error | null, status?: number) =>
        e ? reject(e) : resolve({ status: status ?? 0, server }),
    );
    call.on('metadata', (m: grpc14.Metadata) => {
      server = String(m.get('x-server')[0] ?? '');
    });
  });

/** A Health client of `target`. */
export const healthClient = (grpc: Grpc, target: string): grpc14.Client => {
  const Client = grpc.makeGenericClientConstructor(HEALTH, 'Health');
  return new Client(target, grpc.credentials.createInsecure());
};

/** A grpc-js Health server named `name` on 127.0.0.1 port 0. */
export const startHealth = async (
  grpc: Grpc,
  name: string,
): Promise<{ port: number; stop(): void }> => {
  const server = new grpc.Server();
  server.addService(HEALTH, {
    check: (
      call: grpc14.ServerUnaryCall<string, number>,
      callback: grpc14.sendUnaryData<number>,
    ) => {
      const header = new grpc.Metadata();
      header.set('x-server', name);
      call.sendMetadata(header);
      callback(null, 1);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { port, stop: () => server.forceShutdown() };
};

/**
 * The gRPC test service, `rxdisco.test.Echo/Who` (echo.proto): servers on
 * 127.0.0.1 port 0 that answer their name (optionally after a delay), and
 * its clients, both as code generators make them (a service definition and
 * `makeGenericClientConstructor`) and from `@grpc/proto-loader`. Every
 * function takes the grpc-js module to use, so that the tests run against
 * grpc-js 1.14.x and 1.13.x.
 */
import * as grpc14 from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc13 from 'grpc-js-113';

/** The grpc-js copies under test. */
export const GRPC_VERSIONS = [
  ['1.14', grpc14],
  ['1.13', grpc13 as unknown as typeof grpc14],
] as const;

export type Grpc = typeof grpc14;

/** `message Msg { string text = 1; }` on the wire, as protoc's output would encode it. */
export const encodeMsg = (text: string): Buffer => {
  const body = Buffer.from(text, 'utf8');
  const len: number[] = [];
  let n = body.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return body.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...len]), body]);
};

export const decodeMsg = (buf: Buffer): string => {
  if (buf.length === 0) return '';
  let i = 1;
  let len = 0;
  let shift = 0;
  while (true) {
    const b = buf[i++]!;
    len |= (b & 0x7f) << shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
  }
  return buf.subarray(i, i + len).toString('utf8');
};

/** The service definition a code generator writes for Echo. */
export const ECHO_SERVICE = {
  who: {
    path: '/rxdisco.test.Echo/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeMsg,
    requestDeserialize: decodeMsg,
    responseSerialize: encodeMsg,
    responseDeserialize: decodeMsg,
  },
} as const;

/** A client of Echo: `who(key?, options?)` resolves to the server's name. */
export interface EchoClient {
  who(key?: string, options?: { waitForReady?: boolean; deadlineMs?: number }): Promise<string>;
  close(): void;
  readonly raw: InstanceType<ReturnType<Grpc['makeGenericClientConstructor']>>;
}

const wrap = (raw: EchoClient['raw'], grpc: Grpc, keyHeader = 'x-rxdisco-key'): EchoClient => ({
  raw,
  who: (key, options = {}) =>
    new Promise((resolve, reject) => {
      const metadata = new grpc.Metadata();
      if (key !== undefined) metadata.set(keyHeader, key);
      if (options.waitForReady) metadata.setOptions({ waitForReady: true });
      const callOptions: grpc14.CallOptions = {
        deadline: Date.now() + (options.deadlineMs ?? 5000),
      };
      // biome-ignore lint/suspicious/noExplicitAny: the generic client's methods are untyped
      (raw as any).who(
        key ?? '-',
        metadata,
        callOptions,
        (e: Error | null, text?: string | { text: string }) =>
          e ? reject(e) : resolve(typeof text === 'string' ? text : (text?.text ?? '')),
      );
    }),
  close: () => raw.close(),
});

/** A client as generated code makes it. */
export const generatedClient = (grpc: Grpc, target: string, options: object = {}): EchoClient => {
  const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
  return wrap(new Client(target, grpc.credentials.createInsecure(), options), grpc);
};

const PROTO = new URL('./echo.proto', import.meta.url).pathname;

/** A client made from echo.proto by `@grpc/proto-loader`. */
export const protoLoaderClient = (grpc: Grpc, target: string, options: object = {}): EchoClient => {
  const definition = protoLoader.loadSync(PROTO);
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    rxdisco: {
      test: { Echo: new (t: string, c: grpc14.ChannelCredentials, o: object) => EchoClient['raw'] };
    };
  };
  const raw = new pkg.rxdisco.test.Echo(target, grpc.credentials.createInsecure(), options);
  const client = wrap(raw, grpc);
  return {
    ...client,
    who: (key, o) => {
      // proto-loader's client takes and returns { text }
      // biome-ignore lint/suspicious/noExplicitAny: the loaded client's methods are untyped
      const r = raw as any;
      return new Promise((resolve, reject) => {
        const metadata = new grpc.Metadata();
        if (key !== undefined) metadata.set('x-rxdisco-key', key);
        if (o?.waitForReady) metadata.setOptions({ waitForReady: true });
        r.who(
          { text: key ?? '-' },
          metadata,
          {
            deadline: Date.now() + (o?.deadlineMs ?? 5000),
            waitForReady: o?.waitForReady ?? false,
          },
          (e: Error | null, m?: { text: string }) => (e ? reject(e) : resolve(m?.text ?? '')),
        );
      });
    },
  };
};

/** A running Echo server. */
export interface EchoServer {
  readonly name: string;
  readonly port: number;
  /** Calls served. */
  served: number;
  /** Delay before each answer, in ms (a slow server). */
  delayMs: number;
  /** A gRPC status code every call fails with (0: none). */
  failCode: number;
  stop(): Promise<void>;
}

/** Starts an Echo server named `name` on 127.0.0.1, port 0. */
export const startEcho = async (grpc: Grpc, name: string, delayMs = 0): Promise<EchoServer> => {
  const server = new grpc.Server();
  const state = { name, port: 0, served: 0, delayMs, failCode: 0 } as EchoServer;
  server.addService(ECHO_SERVICE, {
    who: (_call: unknown, callback: (e: object | null, text?: string) => void) => {
      state.served++;
      if (state.failCode !== 0) {
        callback({ code: state.failCode, details: `${name} fails` });
        return;
      }
      if (state.delayMs > 0) setTimeout(() => callback(null, name), state.delayMs);
      else callback(null, name);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return Object.assign(state, {
    port,
    stop: () => {
      server.forceShutdown();
      return Promise.resolve();
    },
  });
};

// gRPC through rxdisco: two grpc-js servers registered in the in-process
// registry, one client channel on `rxdisco:///greeter` that balances over
// them with rxdisco's roundRobin() (ewma(), leastRequest(), consistentHash()
// plug in the same way).
//
// Run: npx tsx docs/examples/grpc.ts
import * as grpc from '@grpc/grpc-js';
import { registerRxdiscoResolver } from '../../src/grpc/index.js';
import { discovery, roundRobin } from '../../src/index.js';

// The service, as generated code defines it (JSON on the wire, to stay short).
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const parse = (b: Buffer) => JSON.parse(b.toString());
const Greeter = {
  hello: {
    path: '/demo.Greeter/Hello',
    requestStream: false,
    responseStream: false,
    requestSerialize: json,
    requestDeserialize: parse,
    responseSerialize: json,
    responseDeserialize: parse,
  },
} as const;

const registry = discovery('memory://');

// Two servers on free ports, each registered under `greeter`.
const servers: grpc.Server[] = [];
const registrations = [];
for (const name of ['alpha', 'beta']) {
  const server = new grpc.Server();
  server.addService(Greeter, {
    hello: (
      call: grpc.ServerUnaryCall<{ who: string }, unknown>,
      done: grpc.sendUnaryData<unknown>,
    ) => done(null, { greeting: `hello ${call.request.who} from ${name}` }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  servers.push(server);
  registrations.push(
    registry.register({ service: 'greeter', id: name, host: '127.0.0.1', port }).subscribe(),
  );
}

// Channels of rxdisco:///<service> now resolve through `registry`.
const resolver = registerRxdiscoResolver(registry, { grpc, balancer: roundRobin() });
const GreeterClient = grpc.makeGenericClientConstructor(Greeter, 'Greeter');
const client = new GreeterClient(resolver.target('greeter'), grpc.credentials.createInsecure());

const hello = (who: string) =>
  new Promise<string>((resolve, reject) => {
    const metadata = new grpc.Metadata();
    metadata.setOptions({ waitForReady: true }); // wait for the first instances
    client.makeUnaryRequest(
      Greeter.hello.path,
      json,
      parse,
      { who },
      metadata,
      { deadline: Date.now() + 5000 },
      (e, reply?: { greeting: string }) => (e ? reject(e) : resolve(reply!.greeting)),
    );
  });

await hello('warm-up'); // connects; round robin covers the READY instances
for (const who of ['ada', 'bob', 'cy', 'di']) console.log(await hello(who));

client.close(); // stops the channel's watch
resolver.close();
for (const r of registrations) r.unsubscribe();
await registry.close();
for (const s of servers) s.forceShutdown();

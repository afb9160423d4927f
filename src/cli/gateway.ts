/**
 * `rxdisco gateway URL`: the gateway on a `node:http` server until
 * SIGINT/SIGTERM, then a drain: no new connections, requests in flight
 * finish (up to `--drain`), exit 0.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { firstValueFrom, from, interval, NEVER, race, timer } from 'rxjs';
import { formatHostPort } from '../core/url.js';
import { gateway } from '../gateway/gateway.js';
import type { GatewayCommand } from './args.js';
import { type CliContext, cliDiscoveryOptions, untilStopped } from './context.js';

/** How often a drain closes the connections that went idle. */
const DRAIN_TICK_MS = 50;

const listen = (server: Server, host: string, port: number): Promise<AddressInfo> =>
  new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });

/** Runs `rxdisco gateway`; resolves 0 once drained after a stop, 1 when it cannot listen. */
export const runGateway = async (cmd: GatewayCommand, ctx: CliContext): Promise<number> => {
  const registry = ctx.discovery(cmd.url, cliDiscoveryOptions(ctx));
  const gw = gateway(registry, {
    balancer: cmd.balancer,
    timeoutMs: cmd.timeoutMs,
    trustProxy: cmd.trustProxy,
  });
  const server = createServer(gw);
  // Upgraded sockets (WebSockets) are no longer the HTTP server's: closed by hand at the deadline.
  const upgraded = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    gw.upgrade(req, socket, head);
  });
  server.on('checkContinue', gw).on('clientError', gw.clientError);
  const release = async (): Promise<void> => {
    await gw.close();
    await registry.close();
  };
  let address: AddressInfo;
  try {
    address = await listen(server, cmd.listen.host, cmd.listen.port);
  } catch (e) {
    await release();
    throw e;
  }
  ctx.out(`rxdisco gateway listening on http://${formatHostPort(address.address, address.port)}`);
  const code = await untilStopped(NEVER, ctx);
  gw.drain(); // event streams end, each connection closes after its answer
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive connections close as soon as their answer is out.
  const idle = interval(DRAIN_TICK_MS).subscribe(() => server.closeIdleConnections());
  server.closeIdleConnections();
  await firstValueFrom(race(from(closed), timer(cmd.drainMs)));
  idle.unsubscribe();
  server.closeAllConnections();
  for (const socket of upgraded) socket.destroy();
  await closed;
  await release();
  return code;
};

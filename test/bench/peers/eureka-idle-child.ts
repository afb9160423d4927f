/**
 * Child of `eureka-peer.bench.ts`: no client at all, the baseline. What a
 * Node process with the same loader (tsx) and the same line protocol costs
 * while it waits, so that the bench can also show each client's CPU above it.
 */
import { now, send, serveCommands } from './eureka-child-io.js';

send({ type: 'ready', at: now() });
serveCommands(async () => undefined);

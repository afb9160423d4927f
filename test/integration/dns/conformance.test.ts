/**
 * The read-only half of the conformance suite on dns+srv://, against a real
 * Knot server whose zone the harness rewrites and reloads.
 */
import { afterAll, beforeAll } from 'vitest';
import { conformance } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import type { KnotServer } from '../../servers/dns.js';
import { dnsHarness, startRootServer } from './harness.js';

let server: KnotServer;

beforeAll(async () => {
  server = await startRootServer();
}, 60_000);

afterAll(async () => {
  await server?.destroy();
});

expectNoLeakedHandles();

conformance('dns+srv:// (Knot)', () => dnsHarness(server), {
  readOnly: true,
  listsServices: false,
});

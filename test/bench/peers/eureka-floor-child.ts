/**
 * Child of `eureka-peer.bench.ts`: the floor of any delta-polling Eureka
 * client in Node. Each interval (timed from the end of the previous poll,
 * as rxdisco does) one keep-alive `node:http` GET of `/apps/delta`, its
 * body read and `JSON.parse`d, nothing else: no validation, no registry
 * copy. Whatever a real client spends above this is its own work.
 */
import { Agent, get } from 'node:http';
import { childConfig, now, refreshed, send, serveCommands } from './eureka-child-io.js';

const config = childConfig();
const agent = new Agent({ keepAlive: true });
let sink = 0;
let stopped = false;
let timer: NodeJS.Timeout | undefined;

const poll = (): void => {
  get(`${config.base}/apps/delta`, { agent, headers: { accept: 'application/json' } }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { applications?: unknown };
      if (body.applications !== undefined) sink++;
      refreshed('delta');
      if (!stopped) timer = setTimeout(poll, config.interval);
    });
  }).on('error', (e) => {
    process.stderr.write(`${e.message}\n`);
    if (!stopped) timer = setTimeout(poll, config.interval);
  });
};

poll();
send({ type: 'ready', at: now() });
serveCommands(async () => {
  stopped = true;
  clearTimeout(timer);
  agent.destroy();
  if (sink < 0) console.log(sink);
});

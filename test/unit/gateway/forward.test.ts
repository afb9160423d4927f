/**
 * Forward, the handler that streams an instance's answer into the client's
 * response: back-pressure both ways with undici (a full client pauses the
 * instance, its drain resumes it), one answer per request.
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Forward } from '../../../src/gateway/forward.js';

/** A client response that takes `room` chunks before it is full. */
class Response extends EventEmitter {
  headersSent = false;
  status = 0;
  readonly chunks: Buffer[] = [];
  ended = false;
  destroyed = false;
  constructor(public room: number) {
    super();
  }
  writeHead(status: number): this {
    this.status = status;
    this.headersSent = true;
    return this;
  }
  write(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return --this.room > 0;
  }
  end(body?: Buffer): void {
    if (body !== undefined) this.chunks.push(body);
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

const make = (room: number) => {
  const res = new Response(room);
  const forward = new Forward(res as unknown as ServerResponse, 'users', {
    failure: (_service, e) => ({ status: 502, body: { error: 'bad gateway', message: e.message } }),
    timeout: (service) => ({ status: 504, body: { error: 'gateway timeout', service } }),
    deadlines: undefined,
  });
  return { res, forward };
};

describe('Forward', () => {
  it('pauses the instance while the client is full and resumes it on drain', () => {
    const { res, forward } = make(2);
    let resumed = 0;
    forward.onConnect(() => undefined);
    expect(forward.onHeaders(200, [], () => resumed++, 'OK')).toBe(true);
    expect(forward.onData(Buffer.from('a'))).toBe(true);
    expect(forward.onData(Buffer.from('b'))).toBe(false); // full: undici stops reading
    expect(resumed).toBe(0);
    res.room = 10;
    res.emit('drain');
    expect(resumed).toBe(1);
    forward.onComplete();
    expect(res.ended).toBe(true);
  });

  it('answers a failure before the response with the gateway reply, once', () => {
    const { res, forward } = make(10);
    forward.onConnect(() => undefined);
    forward.onError(new Error('connect ECONNREFUSED'));
    forward.onError(new Error('again'));
    expect(res.status).toBe(502);
    expect(Buffer.concat(res.chunks).toString()).toContain('connect ECONNREFUSED');
    expect(res.destroyed).toBe(false); // not answered a second time
  });

  it('cuts the client off when the instance fails mid-response', () => {
    const { res, forward } = make(10);
    forward.onConnect(() => undefined);
    forward.onHeaders(200, [], () => undefined, 'OK');
    forward.onData(Buffer.from('part'));
    forward.onError(new Error('socket hang up'));
    expect(res.destroyed).toBe(true);
    expect(res.ended).toBe(false);
  });

  it('aborts the instance request when the client goes away, and when answered by a timeout', () => {
    const gone = make(10);
    const aborted: string[] = [];
    gone.forward.onConnect((e) => aborted.push(String(e?.message)));
    gone.res.emit('close');
    expect(aborted).toHaveLength(1);

    const late = make(10);
    late.forward.onConnect((e) => aborted.push(String(e?.message)));
    late.forward.answer({ status: 504, body: { error: 'gateway timeout' } });
    expect(late.res.status).toBe(504);
    expect(aborted).toHaveLength(2);
    // The instance's answer after the timeout goes nowhere.
    expect(late.forward.onHeaders(200, [], () => undefined, 'OK')).toBe(false);
    expect(late.res.status).toBe(504);
  });
});

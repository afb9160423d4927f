import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { requestHeaders, responseHeaders } from '../../../src/gateway/headers.js';

/** A request as node:http gives it: raw headers and the parsed ones. */
const req = (raw: string[], encrypted = false): IncomingMessage => {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    headers[k] = headers[k] === undefined ? raw[i + 1]! : `${headers[k]}, ${raw[i + 1]!}`;
  }
  return {
    rawHeaders: raw,
    headers,
    socket: { remoteAddress: '10.0.0.9', encrypted },
  } as unknown as IncomingMessage;
};

describe('requestHeaders', () => {
  it('drops hop-by-hop headers, the ones Connection names, Host and Expect; keeps the rest as sent', () => {
    const out = requestHeaders(
      req([
        'Host',
        'api',
        'Connection',
        'keep-alive, X-Hop',
        'X-Hop',
        '1',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Authorization',
        'secret',
        'Proxy-Connection',
        'keep-alive',
        'TE',
        'trailers',
        'Trailer',
        'X-T',
        'Transfer-Encoding',
        'chunked',
        'Upgrade',
        'h2c',
        'Expect',
        '100-continue',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
        'X-Kept',
        'yes',
      ]),
      { trustProxy: false },
    );
    expect(out).toEqual([
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'X-Kept',
      'yes',
      'x-forwarded-for',
      '10.0.0.9',
      'x-forwarded-proto',
      'http',
      'x-forwarded-host',
      'api',
    ]);
  });

  it('replaces X-Forwarded-* unless the client is a trusted proxy', () => {
    const forged = [
      'Host',
      'api',
      'X-Forwarded-For',
      '6.6.6.6',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-Host',
      'evil',
    ];
    expect(requestHeaders(req(forged, true), { trustProxy: false })).toEqual([
      'x-forwarded-for',
      '10.0.0.9',
      'x-forwarded-proto',
      'https',
      'x-forwarded-host',
      'api',
    ]);
    expect(requestHeaders(req(forged), { trustProxy: true })).toEqual([
      'x-forwarded-for',
      '6.6.6.6, 10.0.0.9',
      'x-forwarded-proto',
      'https',
      'x-forwarded-host',
      'evil',
    ]);
  });
});

describe('responseHeaders', () => {
  it('drops hop-by-hop headers and the ones Connection names, keeps repeated ones', () => {
    const raw = [
      'Connection',
      'X-Private',
      'X-Private',
      '1',
      'Keep-Alive',
      'timeout=5',
      'Transfer-Encoding',
      'chunked',
      'Set-Cookie',
      'a',
      'Set-Cookie',
      'b',
    ].map((s) => Buffer.from(s));
    expect(responseHeaders(raw)).toEqual(['Set-Cookie', 'a', 'Set-Cookie', 'b']);
  });

  it('drops every hop-by-hop name in any case, and keeps the names that only look like one', () => {
    const hop = [
      'TE',
      'Trailer',
      'UPGRADE',
      'keep-alive',
      'Transfer-encoding',
      'Proxy-Authenticate',
      'PROXY-Connection',
      'proxy-x',
    ];
    const kept = [
      'Te-X',
      'X-Te',
      'Pragma',
      'Trailers',
      'Keep-Alive2',
      'Content-Type',
      'Location',
      'P',
    ];
    const raw = [...hop, ...kept].flatMap((name) => [Buffer.from(name), Buffer.from('v')]);
    expect(responseHeaders(raw)).toEqual(kept.flatMap((name) => [name, 'v']));
  });

  it('drops a header that a later Connection header names, in any case', () => {
    expect(
      responseHeaders(['X-Private', '1', 'Date', 'd', 'connection', 'close, X-PRIVATE']),
    ).toEqual(['Date', 'd']);
  });

  it('keeps Connection and Upgrade on a 101', () => {
    expect(
      responseHeaders(
        ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'x'],
        true,
      ),
    ).toEqual(['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'x']);
  });
});

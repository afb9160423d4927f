/**
 * The gateway's own answers: a JSON body naming what went wrong, on a
 * `ServerResponse` or, before there is one (a request the parser refused,
 * an upgrade), written raw on the socket.
 *
 * @module
 */
import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** One answer of the gateway: its status, extra headers and JSON body. */
export interface Reply {
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
}

/** `400`: the request is refused before anything is forwarded. */
export const badRequest = (reason: string): Reply => ({
  status: 400,
  body: { error: 'bad request', reason },
});

const payload = (reply: Reply): Buffer => Buffer.from(`${JSON.stringify(reply.body)}\n`);

/** Writes `reply` on `res` (when it has not started), then ends it. */
export const send = (res: ServerResponse, reply: Reply): void => {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = payload(reply);
  res.writeHead(reply.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(body.length),
    'cache-control': 'no-store',
    ...reply.headers,
  });
  res.end(body);
};

/** Writes `reply` as a whole HTTP/1.1 response on a raw socket and closes it. */
export const sendRaw = (socket: Duplex, reply: Reply): void => {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = payload(reply);
  const head = [
    `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ''}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${body.length}`,
    'cache-control: no-store',
    'connection: close',
    ...Object.entries(reply.headers ?? {})
      .filter(([k]) => k.toLowerCase() !== 'connection')
      .map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
};

/**
 * The answer to a request Node's parser refused (`clientError`): 400 with
 * the parser's reason and code (also for an oversized header block, which
 * Node alone answers 431).
 */
export const parseErrorReply = (error: Error & { code?: string; reason?: unknown }): Reply => {
  const code = error.code ?? 'unknown';
  const reason =
    code === 'HPE_HEADER_OVERFLOW'
      ? 'the header block is too large'
      : typeof error.reason === 'string' && error.reason !== ''
        ? error.reason
        : error.message;
  return { status: 400, body: { error: 'bad request', reason, code } };
};

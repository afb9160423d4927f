/**
 * An upgrade (WebSocket) passed through: the upstream's `101` and its
 * headers written on the client's socket, then the two sockets piped into
 * each other until either side closes. An upstream that answers without
 * upgrading has its answer passed on as it is.
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import type { Subscription } from 'rxjs';
import type { Dispatcher } from 'undici';
import { responseHeaders } from './headers.js';
import { type Reply, sendRaw } from './replies.js';

const headBlock = (status: number, statusText: string, headers: readonly string[]): Buffer => {
  const lines = [`HTTP/1.1 ${status} ${statusText}`];
  for (let i = 0; i + 1 < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
  lines.push('', '');
  return Buffer.from(lines.join('\r\n'), 'latin1');
};

/** The handler of one upgrade request. */
export class Upgrade implements Dispatcher.DispatchHandler {
  readonly #socket: Duplex;
  readonly #head: Buffer;
  readonly #failure: (error: Error) => Reply;
  #abort: ((reason?: Error) => void) | undefined;
  #over = false;
  #answering = false;
  /** The per-request timer (cleared once the instance answered). */
  timer: Subscription | undefined;

  constructor(socket: Duplex, head: Buffer, failure: (error: Error) => Reply) {
    this.#socket = socket;
    this.#head = head;
    this.#failure = failure;
    socket.once('close', () => {
      if (!this.#over) this.#finish(() => this.#abort?.(gone()));
    });
    socket.on('error', () => socket.destroy());
  }

  /** Answers `reply` now (a timeout) and aborts the upstream request. */
  answer(reply: Reply): void {
    if (this.#over) return;
    this.#finish(() => {
      sendRaw(this.#socket, reply);
      this.#abort?.(gone());
    });
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#abort = abort;
    if (this.#over) abort(gone());
  }

  onUpgrade(status: number, rawHeaders: Buffer[] | string[] | null, upstream: Duplex): void {
    if (this.#over) {
      upstream.destroy();
      return;
    }
    this.#finish(() => undefined);
    const client = this.#socket;
    client.write(headBlock(status, 'Switching Protocols', responseHeaders(rawHeaders ?? [], true)));
    if (this.#head.length > 0) upstream.write(this.#head);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upstream.pipe(client);
    client.pipe(upstream);
  }

  onHeaders(
    status: number,
    rawHeaders: Buffer[],
    _resume: () => void,
    statusText: string,
  ): boolean {
    if (this.#over || status < 200) return true;
    // Not upgraded: the answer goes to the client as it is, then the socket closes.
    this.#answering = true;
    const headers = responseHeaders(rawHeaders).filter((_, i, all) => {
      const name = (i % 2 === 0 ? all[i] : all[i - 1])!.toLowerCase();
      return name !== 'content-length';
    });
    this.#socket.write(headBlock(status, statusText, [...headers, 'connection', 'close']));
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (!this.#over) this.#socket.write(chunk);
    return true;
  }

  onComplete(): void {
    if (this.#over) return;
    this.#finish(() => this.#socket.end());
  }

  onError(error: Error): void {
    if (this.#over) return;
    this.#finish(() => {
      if (this.#answering) this.#socket.destroy();
      else sendRaw(this.#socket, this.#failure(error));
    });
  }

  #finish(then: () => void): void {
    this.#over = true;
    this.timer?.unsubscribe();
    then();
  }
}

const gone = (): Error =>
  Object.assign(new Error('the client closed the connection'), { code: 'UND_ERR_ABORTED' });

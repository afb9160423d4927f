/**
 * One request forwarded to an instance: undici's handler (callback API)
 * that streams the upstream's response into the client's `ServerResponse`
 * as it comes (pausing undici while the client is slow), and turns a
 * failure before the response into the gateway's JSON answer.
 *
 * @module
 */
import type { ServerResponse } from 'node:http';
import type { Subscription } from 'rxjs';
import type { Dispatcher } from 'undici';
import { responseHeaders } from './headers.js';
import { type Reply, send } from './replies.js';

/** What a forward needs to answer a failure. */
export interface ForwardDeps {
  /** The gateway's answer to an error before the response started (502, 503). */
  readonly failure: (error: Error) => Reply;
}

/** The handler of one forwarded request. */
export class Forward implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  readonly #deps: ForwardDeps;
  #abort: ((reason?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #over = false;
  /** The per-request timer (cleared once the response started). */
  timer: Subscription | undefined;

  constructor(res: ServerResponse, deps: ForwardDeps) {
    this.#res = res;
    this.#deps = deps;
    res.on('drain', () => this.#resume?.());
    res.once('close', () => {
      // The client went away first: stop the upstream request.
      if (!this.#over) this.cancel();
    });
  }

  /** Answers `reply` now (a timeout) and aborts the upstream request. */
  answer(reply: Reply): void {
    if (this.#over) return;
    this.#finish();
    send(this.#res, reply);
    this.#abort?.(stopped());
  }

  /** Aborts the upstream request without answering (the client is gone). */
  cancel(): void {
    if (this.#over) return;
    this.#finish();
    this.#abort?.(stopped());
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#abort = abort;
    if (this.#over) abort(stopped());
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.#over) return false;
    if (status < 200) return true; // 1xx: answered by the gateway itself (100) or dropped
    this.timer?.unsubscribe();
    this.#resume = resume;
    this.#res.writeHead(status, statusText, responseHeaders(rawHeaders));
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#over) return false;
    return this.#res.write(chunk);
  }

  onComplete(): void {
    if (this.#over) return;
    this.#finish();
    this.#res.end();
  }

  onError(error: Error): void {
    if (this.#over) return;
    this.#finish();
    if (this.#res.headersSent) this.#res.destroy(error);
    else send(this.#res, this.#deps.failure(error));
  }

  #finish(): void {
    this.#over = true;
    this.timer?.unsubscribe();
  }
}

/** The reason the gateway aborts an upstream request with. */
const stopped = (): Error =>
  Object.assign(new Error('the gateway stopped the request'), { code: 'UND_ERR_ABORTED' });

/**
 * One request forwarded to an instance: undici's handler (callback API)
 * that streams the upstream's response into the client's `ServerResponse`
 * as it comes (pausing undici while the client is slow), and turns a
 * failure before the response into the gateway's JSON answer.
 *
 * @module
 */
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { type Deadlines, Timed } from './deadlines.js';
import { responseHeaders } from './headers.js';
import { type Reply, send } from './replies.js';

/**
 * What a forward needs to answer a failure or a timeout: the gateway's, one
 * for every request (the forward passes its service).
 */
export interface ForwardDeps {
  /** The gateway's answer to an error before the response started (502, 503). */
  readonly failure: (service: string, error: Error) => Reply;
  /** The gateway's answer past the timeout (504). */
  readonly timeout: (service: string) => Reply;
  /** The per-request timeouts, or undefined for none. */
  readonly deadlines: Deadlines | undefined;
}

/** The handler of one forwarded request. */
export class Forward extends Timed implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  readonly #service: string;
  readonly #deps: ForwardDeps;
  #abort: ((reason?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  /** Waiting for the client's `drain` (the last write filled its buffer). */
  #paused = false;
  #over = false;

  /** Starts the request's timeout, if the gateway has one. */
  constructor(res: ServerResponse, service: string, deps: ForwardDeps) {
    super();
    this.#res = res;
    this.#service = service;
    this.#deps = deps;
    res.once('close', () => {
      // The client went away first: stop the upstream request.
      if (!this.#over) this.cancel();
    });
    deps.deadlines?.add(this);
  }

  /** The timeout passed before the response started: a 504, the upstream request aborted. */
  expire(): void {
    this.answer(this.#deps.timeout(this.#service));
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
    this.#deps.deadlines?.remove(this);
    this.#resume = resume;
    this.#res.writeHead(status, statusText, responseHeaders(rawHeaders));
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#over) return false;
    if (this.#res.write(chunk)) return true;
    // Full: undici pauses until the client drains (listened to only then).
    if (!this.#paused) {
      this.#paused = true;
      this.#res.once('drain', () => {
        this.#paused = false;
        this.#resume?.();
      });
    }
    return false;
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
    else send(this.#res, this.#deps.failure(this.#service, error));
  }

  #finish(): void {
    this.#over = true;
    this.#deps.deadlines?.remove(this);
  }
}

/** The reason the gateway aborts an upstream request with. */
const stopped = (): Error =>
  Object.assign(new Error('the gateway stopped the request'), { code: 'UND_ERR_ABORTED' });

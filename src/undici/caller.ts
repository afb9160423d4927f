/**
 * The caller's side of a request: undici's handler, in one shape whichever
 * of undici's two handler APIs it speaks (the callbacks `onConnect` ...
 * `onComplete` that `undici.request`, `undici.fetch` and Node's fetch use,
 * or the controller-based `onRequestStart` ... `onResponseEnd` of
 * `Dispatcher.compose` interceptors).
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { type Dispatcher, util } from 'undici';

/** What the request run tells the caller, in the callback API's terms. */
export interface Caller {
  connect(abort: (reason?: Error) => void): void;
  responseStarted(): void;
  /** Returns false to pause the response. */
  headers(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  /** Returns false to pause the response. */
  data(chunk: Buffer): boolean;
  complete(rawTrailers: string[] | null): void;
  error(error: Error): void;
  upgrade(status: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void;
  bodySent(chunkSize: number, totalBytesSent: number): void;
}

type Legacy = Required<
  Pick<Dispatcher.DispatchHandler, 'onConnect' | 'onHeaders' | 'onData' | 'onComplete' | 'onError'>
> &
  Dispatcher.DispatchHandler;

/** The callback API, called as is. */
class LegacyCaller implements Caller {
  readonly #h: Dispatcher.DispatchHandler;
  constructor(h: Dispatcher.DispatchHandler) {
    this.#h = h;
  }
  connect(abort: (reason?: Error) => void): void {
    this.#h.onConnect?.(abort);
  }
  responseStarted(): void {
    this.#h.onResponseStarted?.();
  }
  headers(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    return this.#h.onHeaders?.(status, rawHeaders, resume, statusText) !== false;
  }
  data(chunk: Buffer): boolean {
    return this.#h.onData?.(chunk) !== false;
  }
  complete(rawTrailers: string[] | null): void {
    this.#h.onComplete?.(rawTrailers);
  }
  error(error: Error): void {
    (this.#h as Legacy).onError(error);
  }
  upgrade(status: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    this.#h.onUpgrade?.(status, rawHeaders, socket);
  }
  bodySent(chunkSize: number, totalBytesSent: number): void {
    this.#h.onBodySent?.(chunkSize, totalBytesSent);
  }
}

/** The controller the controller-based API is given. */
class Controller implements Dispatcher.DispatchController {
  #abort: (reason?: Error) => void;
  #paused = false;
  #aborted = false;
  #reason: Error | null = null;
  resumeResponse: (() => void) | undefined;

  constructor(abort: (reason?: Error) => void) {
    this.#abort = abort;
  }
  get aborted(): boolean {
    return this.#aborted;
  }
  get paused(): boolean {
    return this.#paused;
  }
  get reason(): Error | null {
    return this.#reason;
  }
  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#abort(reason);
  }
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.resumeResponse?.();
  }
}

type Headers = Record<string, string | string[] | undefined>;
const parse = (raw: Buffer[] | string[] | null): Headers =>
  util.parseHeaders(raw ?? []) as unknown as Headers;

/** The controller-based API, driven through the callbacks (as undici's own UnwrapHandler does). */
class ControllerCaller implements Caller {
  readonly #h: Dispatcher.DispatchHandler;
  #controller: Controller | undefined;
  constructor(h: Dispatcher.DispatchHandler) {
    this.#h = h;
  }
  connect(abort: (reason?: Error) => void): void {
    this.#controller = new Controller(abort);
    this.#h.onRequestStart?.(this.#controller, {});
  }
  responseStarted(): void {}
  headers(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const c = this.#controller!;
    c.resumeResponse = resume;
    this.#h.onResponseStart?.(c, status, parse(rawHeaders), statusText);
    return !c.paused;
  }
  data(chunk: Buffer): boolean {
    const c = this.#controller!;
    this.#h.onResponseData?.(c, chunk);
    return !c.paused;
  }
  complete(rawTrailers: string[] | null): void {
    this.#h.onResponseEnd?.(this.#controller!, parse(rawTrailers));
  }
  error(error: Error): void {
    this.#h.onResponseError?.(this.#controller!, error);
  }
  upgrade(status: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    this.#h.onRequestUpgrade?.(this.#controller!, status, parse(rawHeaders), socket);
  }
  bodySent(): void {}
}

/** The caller behind `handler`, whichever API it speaks. */
export const callerOf = (handler: Dispatcher.DispatchHandler): Caller =>
  typeof handler.onRequestStart === 'function'
    ? new ControllerCaller(handler)
    : new LegacyCaller(handler);

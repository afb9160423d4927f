/**
 * One request through the dispatcher: `call$()` runs it (picks, retries on
 * other instances, backoff, budget, balancer and detector reports), each
 * attempt dispatches it on the picked instance's pool, and the caller's
 * handler sees exactly one response or one error. Once the response has
 * started (status and headers passed on), nothing is retried.
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { isNoInstanceError, NoInstanceError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { instruments } from '../core/metrics.js';
import type { AttemptContext, AttemptFn, CallOptions } from '../operators/call-options.js';
import { type Plan, plan } from '../operators/call-plan.js';
import { CallRun, type Sink } from '../operators/call-run.js';
import type { Caller } from './caller.js';
import { NOT_RETRYABLE } from './retry-rules.js';
import type { Route } from './route.js';

const toError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** An aborted request's reason, as undici's own (`RequestAbortedError`-like) when none was given. */
const abortReason = (reason: Error | undefined): Error =>
  reason ??
  Object.assign(new DOMException('Request aborted', 'AbortError'), {
    code: 'UND_ERR_ABORTED',
  });

/**
 * A NoInstanceError that does not name the service (no set came from the
 * registry in time, the balancer was closed) made again with the service
 * and registry of the route, the original as its cause.
 */
const namingService = (e: unknown, route: Route): unknown => {
  if (!isNoInstanceError(e) || e.service !== undefined) return e;
  const problem = /no instance available: (.*?); check/.exec(e.message)?.[1] ?? e.message;
  return new NoInstanceError(problem, {
    service: route.service,
    registry: route.registry,
    cause: e,
  });
};

/** One attempt's handler on an instance's pool (undici's callback API). */
class AttemptHandler implements Dispatcher.DispatchHandler {
  readonly #run: RequestRun;
  readonly #resolve: (status: number) => void;
  readonly #reject: (error: unknown) => void;
  #abort: ((reason?: Error) => void) | undefined;
  #status = 0;

  constructor(run: RequestRun, resolve: (status: number) => void, reject: (e: unknown) => void) {
    this.#run = run;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Still the attempt the caller listens to. */
  get #live(): boolean {
    return this.#run.current === this && !this.#run.done;
  }

  /** Aborts the request on the pool (it then reports onError, ignored). */
  abort(reason: Error): void {
    this.#abort?.(reason);
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#abort = abort;
    if (!this.#live) abort(abortReason(this.#run.reason));
  }

  onResponseStarted(): void {
    if (this.#live) this.#run.caller.responseStarted();
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (!this.#live) return true;
    if (status >= 200) {
      this.#run.started = true;
      this.#status = status;
    }
    return this.#run.caller.headers(status, rawHeaders, resume, statusText);
  }

  onData(chunk: Buffer): boolean {
    if (!this.#live) return true;
    return this.#run.caller.data(chunk);
  }

  onComplete(trailers: string[] | null): void {
    if (!this.#live) return;
    this.#run.done = true;
    this.#run.caller.complete(trailers);
    this.#resolve(this.#status);
  }

  onUpgrade(status: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    if (!this.#live) {
      socket.destroy();
      return;
    }
    this.#run.started = true;
    this.#run.done = true;
    this.#run.caller.upgrade(status, rawHeaders, socket);
    this.#resolve(status);
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    if (this.#live) this.#run.caller.bodySent(chunkSize, totalBytesSent);
  }

  onError(error: Error): void {
    if (!this.#live) {
      this.#reject(error);
      return;
    }
    if (this.#run.started) {
      // The caller has the response: it gets this error, and nothing is retried.
      this.#run.done = true;
      NOT_RETRYABLE.add(error);
      this.#run.caller.error(error);
    }
    this.#reject(error);
  }
}

/**
 * A kind of request's call options (idempotent, not, not replayable) and
 * their plan, checked once by the dispatcher: a request without a `key`
 * runs on a copy of the plan with its balancer and attempt filled in (what
 * `call$()` would make of the same options, without checking them again).
 */
export interface CallKind {
  readonly options: CallOptions;
  readonly plan: Plan<number>;
}

/** One request, from dispatch to the caller's last callback. */
export class RequestRun implements Sink<number> {
  readonly caller: Caller;
  readonly #route: Route;
  readonly #kind: CallKind;
  readonly #key: string | undefined;
  /** The request asked for https (the instance's own `secure` also makes it https). */
  readonly #secure: boolean;
  /** Attempts listen to their signal (only when they can time out). */
  readonly #timed: boolean;
  readonly #opts: Dispatcher.DispatchOptions;
  /** The attempt the caller listens to. */
  current: AttemptHandler | undefined;
  /** The response started: status and headers went to the caller. */
  started = false;
  /** The caller got its last callback (complete, error, upgrade). */
  done = false;
  /** Why the caller aborted, when it did. */
  reason: Error | undefined;
  #call: CallRun<number> | undefined;

  constructor(
    route: Route,
    kind: CallKind,
    key: string | undefined,
    secure: boolean,
    timed: boolean,
    opts: Dispatcher.DispatchOptions,
    caller: Caller,
  ) {
    this.#route = route;
    this.#kind = kind;
    this.#key = key;
    this.#secure = secure;
    this.#timed = timed;
    this.#opts = opts;
    this.caller = caller;
  }

  /** Tells the caller it is connected (it gets the abort), then runs the call. */
  start(): void {
    // Closures passed on, never stored in fields (made once per request either way).
    this.caller.connect((reason) => this.#cancel(reason));
    if (this.done) return;
    const fn = this.#attemptFn();
    let p: Plan<number>;
    try {
      p =
        this.#key === undefined
          ? {
              ...this.#kind.plan,
              target: this.#route.balancer,
              fn,
              metrics: instruments(),
            }
          : plan(this.#route.balancer, fn, { ...this.#kind.options, key: this.#key });
    } catch (e) {
      // A call option made for this request was refused (a `key` that is not a string).
      this.#fail(e);
      return;
    }
    const call = new CallRun(p, this);
    this.#call = call;
    call.start();
    if (this.done) call.cancel();
  }

  /** The call's answer (Sink): the caller already has the response. */
  value(): void {}

  /** The call's failure (Sink): it gave up before the caller had a response. */
  error(e: unknown): void {
    this.#fail(e);
  }

  /** The call's attempt function: this request on the picked instance. */
  #attemptFn(): AttemptFn<number> {
    return (instance, context) => this.#attempt(instance, context);
  }

  #attempt(instance: Instance, context: AttemptContext): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const handler = new AttemptHandler(this, resolve, reject);
      this.current = handler;
      if (this.#timed) {
        context.signal.addEventListener(
          'abort',
          () => handler.abort(toError(context.signal.reason)),
          {
            once: true,
          },
        );
      }
      this.#route.pool(instance, this.#secure).dispatch(this.#opts, handler);
    });
  }

  /** The caller aborted: the attempt in flight is aborted, the call cancelled, the caller told. */
  #cancel(reason: Error | undefined): void {
    if (this.done) return;
    this.done = true;
    this.reason = abortReason(reason);
    NOT_RETRYABLE.add(this.reason);
    const attempt = this.current;
    this.#call?.cancel();
    attempt?.abort(this.reason);
    this.caller.error(this.reason);
  }

  /** The call gave up before the caller had a response. */
  #fail(e: unknown): void {
    if (this.done) return;
    this.done = true;
    this.caller.error(toError(namingService(e, this.#route)));
  }
}

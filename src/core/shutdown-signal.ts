/**
 * {@link shutdownSignal}: SIGINT / SIGTERM as an Observable, for graceful
 * shutdown of registrations and watches.
 *
 * @module
 */
import { Observable } from 'rxjs';

/**
 * Emits the name of the first of `signals` the process receives, then
 * completes. Process listeners are installed only while subscribed and are
 * removed on completion or unsubscribe; while they are installed, the
 * signals no longer terminate the process by default, so a second Ctrl-C
 * after the first one was handled stops it the usual way.
 *
 * Pass it as `until` to `register()`: on SIGINT or SIGTERM the instance is
 * deregistered, `deregistered` is emitted and the stream completes.
 *
 * @param signals - the signals to wait for (default `['SIGINT', 'SIGTERM']`).
 *   An empty list never emits.
 * @example
 * ```ts
 * import { discovery, shutdownSignal } from 'rxdisco';
 *
 * const registry = discovery('etcd://127.0.0.1:2379/services/');
 * registry
 *   .register({ service: 'hello', host: '10.0.0.1', port: 8080 }, { until: shutdownSignal() })
 *   .subscribe({
 *     next: (event) => console.log(event.type),
 *     complete: () => void registry.close(), // after 'deregistered'
 *   });
 * ```
 */
export const shutdownSignal = (
  signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'],
): Observable<NodeJS.Signals> =>
  new Observable<NodeJS.Signals>((subscriber) => {
    const listeners = [...new Set(signals)].map((signal) => {
      const listener = (): void => {
        subscriber.next(signal);
        subscriber.complete();
      };
      process.on(signal, listener);
      return { signal, listener };
    });
    return () => {
      for (const { signal, listener } of listeners) process.off(signal, listener);
    };
  });

/**
 * Which services the gateway can route to, from the registry-wide view
 * (`catalog$()`: a service is routable as soon as it registers), or, on a
 * backend without one, from the service list (`services$()`) with one
 * `instances$()` watch per requested service.
 *
 * @module
 */
import {
  defer,
  type Observable,
  ReplaySubject,
  type Subscription,
  share,
  switchMap,
  take,
  timer,
} from 'rxjs';
import { type Catalog, catalogViews } from '../core/catalog.js';
import type { Discovery } from '../core/discovery.js';
import { isConfigError } from '../core/errors.js';
import type { InstanceSet } from '../core/instance-set.js';
import { fallbackCatalog } from './fallback-catalog.js';

/** What the directory knows of a service. */
export type Lookup =
  | { readonly kind: 'known' }
  | { readonly kind: 'unknown' }
  /** No answer from the registry yet, or only a stale one that does not list the service. */
  | { readonly kind: 'unsure'; readonly why: string }
  /** The registry refused the gateway for good (authentication, configuration). */
  | { readonly kind: 'failed'; readonly error: unknown };

type Mode = 'catalog' | 'services';

/** The services behind one gateway. */
export class Directory {
  readonly registry: string;
  readonly #discovery: Discovery;
  readonly #gone: (service: string) => void;
  readonly #mode = new ReplaySubject<Mode>(1);
  #current: Mode | undefined;
  #catalog: Catalog | undefined;
  #names: ReadonlySet<string> | undefined;
  #namesStale = false;
  #error: unknown;
  #failed = false;
  #subscription: Subscription | undefined;
  #views: ((service: string) => Observable<InstanceSet>) | undefined;
  readonly #ready: Promise<void>;
  #settle: () => void = () => undefined;
  #answered = false;

  /** The registry-wide view for the status page (the fallback one watches every service while subscribed). */
  readonly catalog$: Observable<Catalog>;

  constructor(discovery: Discovery, gone: (service: string) => void) {
    this.registry = discovery.registry;
    this.#discovery = discovery;
    this.#gone = gone;
    this.#ready = new Promise<void>((resolve) => {
      this.#settle = () => {
        this.#answered = true;
        resolve();
      };
    });
    const fallback$ = fallbackCatalog(discovery).pipe(
      share({ connector: () => new ReplaySubject(1), resetOnRefCountZero: () => timer(2000) }),
    );
    this.catalog$ = this.#mode.pipe(
      take(1),
      switchMap((mode) => (mode === 'catalog' ? discovery.catalog$() : fallback$)),
    );
    this.#subscription = discovery.catalog$().subscribe({
      next: (c) => this.#onCatalog(c),
      error: (e: unknown) => {
        if (isConfigError(e) && e.field === 'catalog$()') this.#useServiceList();
        else this.#fail(e);
      },
    });
  }

  /** Resolves at the registry's first answer (or failure); at once after `close()`. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** True once the registry answered (or failed). */
  get answered(): boolean {
    return this.#answered;
  }

  /** What the directory knows of `service` now. */
  lookup(service: string): Lookup {
    if (this.#failed) return { kind: 'failed', error: this.#error };
    const c = this.#catalog;
    if (this.#current === 'catalog' && c !== undefined) {
      if (c.has(service)) return { kind: 'known' };
      return c.stale ? { kind: 'unsure', why: 'the registry is unreachable' } : { kind: 'unknown' };
    }
    const names = this.#names;
    if (this.#current === 'services' && names !== undefined) {
      if (names.has(service)) return { kind: 'known' };
      return this.#namesStale
        ? { kind: 'unsure', why: 'the registry is unreachable' }
        : { kind: 'unknown' };
    }
    return { kind: 'unsure', why: 'no answer from the registry yet' };
  }

  /** The instances of `service` for its route: a view of the catalog, or its own watch. */
  instances$(service: string): Observable<InstanceSet> {
    return defer(() => {
      if (this.#current !== 'catalog') return this.#discovery.instances$(service);
      this.#views ??= catalogViews(this.#discovery.catalog$(), this.registry);
      return this.#views(service);
    });
  }

  /** Stops watching. */
  close(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    this.#settle();
  }

  #onCatalog(c: Catalog): void {
    const previous = this.#catalog;
    this.#catalog = c;
    if (this.#current === undefined) this.#choose('catalog');
    if (previous === undefined) return;
    for (const name of c.changed) if (!c.has(name)) this.#gone(name);
  }

  #useServiceList(): void {
    this.#choose('services');
    this.#subscription = this.#discovery.services$().subscribe({
      next: (list) => {
        const previous = this.#names;
        const names = new Set(list.names);
        this.#names = names;
        this.#namesStale = list.stale;
        this.#settle();
        if (previous !== undefined) for (const n of previous) if (!names.has(n)) this.#gone(n);
      },
      error: (e: unknown) => this.#fail(e),
    });
  }

  #choose(mode: Mode): void {
    this.#current = mode;
    this.#mode.next(mode);
    this.#mode.complete();
    if (mode === 'catalog') this.#settle();
  }

  #fail(e: unknown): void {
    this.#failed = true;
    this.#error = e;
    this.#settle();
  }
}

/** Waits for `directory`'s first answer, at most `ms` (the lookup then says it is unsure). */
export const readyWithin = (directory: Directory, ms: number): Promise<void> =>
  new Promise<void>((resolve) => {
    const wait = timer(ms).subscribe(() => resolve());
    void directory.ready().then(() => {
      wait.unsubscribe();
      resolve();
    });
  });

/**
 * What {@link setEurekaStatus} needs of one Eureka discovery: its config,
 * its options, its status overrides and, while its backend is loaded, its
 * client. One handle per discovery, found from the discovery itself (a
 * weak map keyed by the discovery object): a status set through one
 * discovery never touches another of the same URL. Type imports only, so
 * `discovery('eureka://...')` can make one without loading the backend.
 *
 * @module
 */
import type { Discovery } from '../../core/discovery.js';
import type { EurekaClient, EurekaOptions } from './client.js';
import type { EurekaStatus } from './codecs.js';
import type { EurekaConfig } from './url.js';

/** The Eureka side of one discovery. */
export interface EurekaHandle {
  readonly config: EurekaConfig;
  readonly options: EurekaOptions;
  /**
   * Statuses set through this discovery, by `APP/id`: its registrar
   * registers an instance again with its status after a loss.
   */
  readonly overrides: Map<string, EurekaStatus>;
  /** The client of the loaded backend, while it is open. */
  client: EurekaClient | undefined;
}

const handles = new WeakMap<Discovery, EurekaHandle>();

/** A fresh handle: no overrides, no client yet. */
export const eurekaHandle = (config: EurekaConfig, options: EurekaOptions): EurekaHandle => ({
  config,
  options,
  overrides: new Map(),
  client: undefined,
});

/** Ties `handle` to `discovery` (the object returned to the user) and returns the discovery. */
export const attachEurekaHandle = (discovery: Discovery, handle: EurekaHandle): Discovery => {
  handles.set(discovery, handle);
  return discovery;
};

/** The handle of a Eureka discovery, `undefined` for any other discovery. */
export const eurekaHandleOf = (discovery: Discovery): EurekaHandle | undefined =>
  handles.get(discovery);

import type { MonoTypeOperatorFunction } from 'rxjs';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import { view } from './view.js';

const isUp = (instance: Instance): boolean => instance.status === 'UP';

/**
 * Keeps the instances whose status is `UP`. The view keeps the staleness of
 * its input, tests only the instances that changed (the set's delta), and
 * emits only when it changed in effect (an instance going from `DOWN` to `STARTING` emits nothing).
 *
 * @example
 * ```ts
 * registry.instances$('hello').pipe(healthy(), roundRobin());
 * ```
 */
export const healthy = (): MonoTypeOperatorFunction<InstanceSet> => view(isUp);

import type { MonoTypeOperatorFunction } from 'rxjs';
import { ConfigError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import { view } from './view.js';

/**
 * Keeps the instances that have every one of `tags` (all of them with no
 * tags). The view keeps the staleness of its input, tests only the
 * instances that changed (the set's delta), and emits only when it changed in
 * effect.
 *
 * @throws {ConfigError} when a tag is not a non-empty string.
 * @example
 * ```ts
 * registry.instances$('billing').pipe(withTags('v2', 'primary'), healthy());
 * ```
 */
export const withTags = (...tags: string[]): MonoTypeOperatorFunction<InstanceSet> => {
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag === '') {
      throw new ConfigError(
        'withTags',
        `needs non-empty string tags (got ${JSON.stringify(tag)})`,
        'pass tags such as withTags("v2", "primary")',
      );
    }
  }
  const wanted = [...new Set(tags)];
  const hasAll = (instance: Instance): boolean => {
    for (const tag of wanted) if (!instance.tags.includes(tag)) return false;
    return true;
  };
  return view(hasAll);
};

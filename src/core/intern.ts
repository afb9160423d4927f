/**
 * Sharing of the values that repeat across the instances of one registry
 * answer (statuses, zones, tags, metadata keys and values, whole tag lists
 * and metadata maps): `JSON.parse` makes a new string for every occurrence,
 * and 100,000 instances that all say `"zone": "eu-1a"` would keep 100,000
 * copies of it. An interner lives for the decode of one answer; its tables
 * are bounded, so a hostile answer of all-different values costs no more
 * than not interning.
 *
 * @module
 */

/** Entries per table before it stops growing (values past it are kept as they are). */
const MAX_ENTRIES = 4096;
/** Strings longer than this are not interned (they are unlikely to repeat). */
const MAX_STRING = 256;
/** Metadata maps with more entries than this are not shared. */
const MAX_MAP_ENTRIES = 16;

const EMPTY_TAGS: readonly string[] = Object.freeze([]);
const EMPTY_MAP: Readonly<Record<string, string>> = Object.freeze({});

/** Shares equal strings, tag lists and metadata maps among the instances of one answer. */
export class Interner {
  private readonly strings = new Map<string, string>();
  private readonly tagLists = new Map<string, readonly string[]>();
  private readonly maps = new Map<string, Readonly<Record<string, string>>>();

  /** The first equal string seen by this interner, or `s`. */
  string(s: string): string {
    if (s.length > MAX_STRING) return s;
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    if (this.strings.size < MAX_ENTRIES) this.strings.set(s, s);
    return s;
  }

  /**
   * `tags` sorted, without duplicates, frozen, and shared with every equal
   * list seen before. `tags` itself is not changed.
   */
  tags(tags: readonly string[]): readonly string[] {
    if (tags.length === 0) return EMPTY_TAGS;
    if (tags.length === 1) {
      const key = tags[0]!;
      const known = this.tagLists.get(key);
      if (known !== undefined) return known;
      return this.remember(this.tagLists, key, Object.freeze([this.string(key)]));
    }
    const sorted = [...new Set(tags)].sort();
    const key = sorted.join('\u0000');
    const known = this.tagLists.get(key);
    if (known !== undefined) return known;
    for (let i = 0; i < sorted.length; i++) sorted[i] = this.string(sorted[i]!);
    return this.remember(this.tagLists, key, Object.freeze(sorted));
  }

  /**
   * `map` frozen, or an equal map (same entries, same order) seen before.
   * Small maps only; `map` must not be changed afterwards (it may be the
   * one returned, and shared).
   */
  metadata(map: Record<string, string>): Readonly<Record<string, string>> {
    let key = '';
    let n = 0;
    for (const k in map) {
      if (++n > MAX_MAP_ENTRIES) return Object.freeze(map);
      key += `${k}\u0000${map[k]}\u0001`;
    }
    if (n === 0) return EMPTY_MAP;
    const known = this.maps.get(key);
    if (known !== undefined) return known;
    for (const k in map) map[k] = this.string(map[k]!);
    return this.remember(this.maps, key, Object.freeze(map));
  }

  private remember<V>(table: Map<string, V>, key: string, value: V): V {
    if (table.size < MAX_ENTRIES) table.set(key, value);
    return value;
  }
}

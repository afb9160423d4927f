/**
 * go-micro's Consul registry keeps a service's version, metadata and
 * endpoints in Consul tags, one item per tag:
 *
 * - `t-<hex(zlib(JSON {"key":"value"}))>` one metadata pair (older: `t={"key":"value"}`);
 * - `v-<hex(zlib(version))>` the version (older: `v=<version>`);
 * - `e-<hex(zlib(JSON endpoint))>` one RPC endpoint (older: `e=<JSON>`).
 *
 * {@link decodeGoMicroTags} reads them back: the pairs and the version
 * become metadata (`version`), the endpoints are dropped, and every other
 * tag, or one of those that does not decode, stays a plain tag.
 *
 * @module
 */
import { deflateSync, inflateSync } from 'node:zlib';
import * as t from 'io-ts';
import { decode, ENTRY_LIMITS, setEntry } from '../../core/codecs.js';

/** The outcome of reading go-micro tags. */
export interface GoMicroTags {
  /** Tags that are not go-micro encodings. */
  readonly tags: readonly string[];
  /** Metadata pairs and `version` found in the tags (empty when none). */
  readonly metadata: Readonly<Record<string, string>>;
  /** True when at least one tag was a go-micro encoding. */
  readonly found: boolean;
  /**
   * Why tags were dropped (present only when some were): a `x-` tag whose
   * zlib data inflates past {@link GOMICRO_TAG_MAX_BYTES}, or tags past the
   * entry's {@link GOMICRO_TAGS_MAX_BYTES}. One line per tag, `Tags.<i>: ...`.
   */
  readonly dropped?: readonly string[];
}

/** Largest inflated size of one go-micro `t-` / `v-` / `e-` tag: 16 KiB. */
export const GOMICRO_TAG_MAX_BYTES = 16 * 1024;
/** Largest inflated size of all the go-micro tags of one entry: 256 KiB. */
export const GOMICRO_TAGS_MAX_BYTES = 256 * 1024;

const HEX = /^(?:[0-9a-f]{2})+$/i;
const Pair = t.record(t.string, t.string);

/** What a tag holds: its text, nothing (not an encoding), or too much. */
type Payload = string | undefined | { readonly tooLarge: number };

/** Inflates hex-encoded zlib data up to `max` bytes; undefined when it is not zlib. */
const unhex = (s: string, max: number): Payload => {
  if (!HEX.test(s)) return undefined;
  try {
    return inflateSync(Buffer.from(s, 'hex'), { maxOutputLength: max }).toString('utf8');
  } catch (e) {
    // Node stops inflating at maxOutputLength: a bomb costs at most `max` bytes.
    return (e as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE'
      ? { tooLarge: max }
      : undefined;
  }
};

/** The payload of a `x-` (hex zlib) or `x=` (plain) tag, or undefined. */
const payload = (tag: string, max: number): Payload => {
  if (tag.length < 3) return undefined;
  if (tag[1] === '-') return unhex(tag.slice(2), max);
  if (tag[1] === '=') return tag.slice(2);
  return undefined;
};

const parsePair = (text: string): Record<string, string> | undefined => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const d = decode(Pair, value, 'go-micro metadata tag', {}, ENTRY_LIMITS);
  return d.ok ? d.value : undefined;
};

const isJsonObject = (text: string): boolean => {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
};

/**
 * Splits go-micro's encoded tags from plain ones. Pure. A `x-` tag that
 * inflates past {@link GOMICRO_TAG_MAX_BYTES} (a decompression bomb), or
 * past what is left of the entry's {@link GOMICRO_TAGS_MAX_BYTES}, is
 * dropped (neither a tag nor metadata) and said in `dropped`. A `__proto__`
 * pair stays a metadata entry, as every key does.
 */
export const decodeGoMicroTags = (tags: readonly string[]): GoMicroTags => {
  const plain: string[] = [];
  const metadata: Record<string, string> = {};
  const dropped: string[] = [];
  let budget = GOMICRO_TAGS_MAX_BYTES;
  let version: string | undefined;
  let found = false;
  tags.forEach((tag, i) => {
    const kind = tag[0];
    const text =
      kind === 't' || kind === 'v' || kind === 'e'
        ? payload(tag, Math.min(GOMICRO_TAG_MAX_BYTES, budget))
        : undefined;
    if (text === undefined) {
      plain.push(tag);
      return;
    }
    if (typeof text !== 'string') {
      const left = text.tooLarge < GOMICRO_TAG_MAX_BYTES ? ' (what was left for the entry)' : '';
      dropped.push(
        `Tags.${i}: expected a go-micro tag that inflates to at most ${text.tooLarge} bytes${left}, got more (dropped)`,
      );
      return;
    }
    if (tag[1] === '-') budget -= Buffer.byteLength(text);
    if (kind === 't') {
      const pair = parsePair(text);
      if (pair === undefined) plain.push(tag);
      else {
        for (const k in pair) setEntry(metadata, k, pair[k]!);
        found = true;
      }
    } else if (kind === 'v') {
      // `v=...` is too plain to be sure of on its own: trust it only hex-encoded
      // or next to other go-micro tags (checked below).
      if (text === '' || /\s/.test(text)) plain.push(tag);
      else {
        version ??= text;
        if (tag[1] === '-') found = true;
      }
    } else if (isJsonObject(text)) {
      found = true;
    } else {
      plain.push(tag);
    }
  });
  if (version !== undefined) {
    if (found) metadata.version ??= version;
    else plain.push(...tags.filter((t) => t[0] === 'v' && t[1] === '='));
  }
  return { tags: plain, metadata, found, ...(dropped.length > 0 ? { dropped } : {}) };
};

/** Deflates with zlib headers, as Go's compress/zlib writes, then hex-encodes. */
const hexZlib = (text: string): string => deflateSync(Buffer.from(text, 'utf8')).toString('hex');

/**
 * The tags go-micro writes for `metadata` and `version` (its current `t-` /
 * `v-` encodings), so that go-micro clients read rxdisco's registrations,
 * and for tests.
 */
export const encodeGoMicroTags = (
  metadata: Readonly<Record<string, string>>,
  version?: string,
): string[] => [
  ...Object.entries(metadata).map(([k, v]) => `t-${hexZlib(JSON.stringify({ [k]: v }))}`),
  ...(version === undefined ? [] : [`v-${hexZlib(version)}`]),
];

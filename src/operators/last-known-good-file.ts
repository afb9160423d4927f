/**
 * The file format of `lastKnownGood({ file })` (internal): its io-ts codec,
 * decoding through the core's seam, and the atomic write.
 *
 * @module
 */
import * as t from 'io-ts';
import { decodeJson, fromRecord, InstanceRecord, toRecord } from '../core/codecs.js';
import type { DecodeError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';

/** Version 1 of the cache file. */
const LastKnownFile = t.type(
  {
    format: t.literal('rxdisco-last-known-good/1'),
    service: t.string,
    registry: t.string,
    savedAt: t.number,
    instances: t.array(t.type({ registry: t.string, record: InstanceRecord })),
  },
  'LastKnownFile',
);

/** What a cache file holds, decoded. */
export interface LastKnown {
  readonly service: string;
  readonly registry: string;
  readonly savedAt: number;
  readonly instances: readonly Instance[];
}

/** The JSON text of a cache file for `set`, saved at `savedAt`. */
export const encodeLastKnown = (set: InstanceSet, savedAt: number): string =>
  `${JSON.stringify({
    format: 'rxdisco-last-known-good/1',
    service: set.service,
    registry: set.registry,
    savedAt,
    instances: set.instances.map((i) => ({ registry: i.registry, record: toRecord(i) })),
  })}\n`;

/** Decodes a cache file's text; a {@link DecodeError} naming the file when it is corrupt. */
export const decodeLastKnown = (
  text: string,
  file: string,
): { ok: true; value: LastKnown } | { ok: false; error: DecodeError } => {
  const d = decodeJson(LastKnownFile, text, file);
  if (!d.ok) return d;
  return {
    ok: true,
    value: {
      service: d.value.service,
      registry: d.value.registry,
      savedAt: d.value.savedAt,
      instances: d.value.instances.map((e) => fromRecord(e.record, e.registry)),
    },
  };
};

/** Writes `text` to `file` atomically: a temporary file in the same directory, then a rename. */
export const writeAtomic = async (file: string, text: string): Promise<void> => {
  const fs = await import('node:fs/promises');
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await fs.writeFile(tmp, text, { encoding: 'utf8', mode: 0o644 });
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
};

/** Reads `file`; `undefined` when it does not exist. */
export const readIfExists = async (file: string): Promise<string | undefined> => {
  const fs = await import('node:fs/promises');
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw e;
  }
};

import { firstValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { memorySource } from '../../../src/backends/memory/source.js';
import {
  CompactedError,
  isCompactedError,
  MemoryRegistry,
} from '../../../src/backends/memory/store.js';
import { toRecord } from '../../../src/core/codecs.js';
import { isRegistryUnavailableError, isRxdiscoError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';
import type { SourceEvent } from '../../../src/core/watch.js';

const put = (store: MemoryRegistry, id: string, port = 8080) =>
  store.put(
    'hello',
    id,
    toRecord(createInstance({ id, service: 'hello', host: '127.0.0.1', port }, 'memory://m')),
  );

const events = (store: MemoryRegistry, resume: unknown, n: number) =>
  firstValueFrom(memorySource(store, 'hello', 'memory://m')(resume).pipe(take(n), toArray()));

describe('memory watch source', () => {
  it('starts with a snapshot and a cursor just past the read revision', async () => {
    const store = new MemoryRegistry('m');
    put(store, 'a');
    put(store, 'b');
    const [first] = (await events(store, undefined, 1)) as [SourceEvent<number>];
    expect(first.type).toBe('snapshot');
    expect(first.type === 'snapshot' && first.instances.map((i) => i.id)).toEqual(['a', 'b']);
    expect(first.cursor).toBe(store.revision + 1);
  });

  it('resumes from a cursor with exactly the changes made since, then a progress event', async () => {
    const store = new MemoryRegistry('m');
    put(store, 'a');
    const cursor = store.revision + 1;
    put(store, 'b');
    store.delete('hello', 'a');
    const got = await events(store, cursor, 3);
    expect(got.map((e) => e.type)).toEqual(['changes', 'changes', 'progress']);
    expect(got[0]!.type === 'changes' && got[0]!.upserts.map((i) => i.id)).toEqual(['b']);
    expect(got[1]!.type === 'changes' && got[1]!.removals).toEqual(['a']);
  });

  it('re-reads the whole set when the cursor was compacted, so deletes in between are not lost', async () => {
    const store = new MemoryRegistry('m');
    put(store, 'a');
    put(store, 'b');
    const cursor = store.revision + 1;
    store.delete('hello', 'a');
    put(store, 'c');
    store.compact();
    const [first] = await events(store, cursor, 1);
    expect(first!.type).toBe('snapshot');
    expect(first!.type === 'snapshot' && first!.instances.map((i) => i.id)).toEqual(['b', 'c']);
  });

  it('turns a malformed value written over a valid one into a removal plus a reported DecodeError', async () => {
    const store = new MemoryRegistry('m');
    put(store, 'a');
    const cursor = store.revision + 1;
    store.put('hello', 'a', { id: 'a', service: 'hello', host: '127.0.0.1', port: -1 });
    const [change] = await events(store, cursor, 1);
    expect(change!.type === 'changes' && change!.removals).toEqual(['a']);
    expect(change!.type === 'changes' && change!.skipped?.[0]?.problems).toEqual([
      'port: expected Port, got -1',
    ]);
  });

  it('skips a record whose id does not match its key', async () => {
    const store = new MemoryRegistry('m');
    store.put('hello', 'a', { id: 'b', service: 'hello', host: 'h', port: 1 });
    const [first] = await events(store, undefined, 1);
    expect(first!.type === 'snapshot' && first!.instances).toEqual([]);
    expect(first!.type === 'snapshot' && first!.skipped?.[0]?.problems[0]).toMatch(
      /^id: expected "a" \(the key\)/,
    );
  });
});

describe('memory store', () => {
  it('refuses a watch from a compacted revision with a CompactedError, an RxdiscoError', () => {
    const store = new MemoryRegistry('m');
    put(store, 'a');
    put(store, 'b');
    store.compact();
    let error: unknown;
    try {
      store.watch('hello', 1, { change: () => undefined, fail: () => undefined });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CompactedError);
    expect(isCompactedError(error)).toBe(true);
    expect(isRxdiscoError(error)).toBe(true);
    expect(isCompactedError(new Error('revision compacted'))).toBe(false);
    const compacted = error as CompactedError;
    expect(compacted.compactRevision).toBe(2);
    expect(compacted.retryable).toBe(true);
    expect(compacted.registry).toBe('memory://m');
    expect(compacted.message).toMatch(/^registry memory:\/\/m: revision 1 was compacted/);
  });

  it('errors a session opened during an outage with a retryable RegistryUnavailableError', async () => {
    const store = new MemoryRegistry('m');
    store.setAvailable(false);
    const error = await events(store, undefined, 1).catch((e: unknown) => e);
    expect(isRegistryUnavailableError(error)).toBe(true);
  });
});

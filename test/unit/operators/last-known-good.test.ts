import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, map, ReplaySubject, Subject, take, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  isConfigError,
  isDecodeError,
  isRegistryUnavailableError,
  type RxdiscoError,
} from '../../../src/core/errors.js';
import { emptySet, type InstanceSet, restale } from '../../../src/core/instance-set.js';
import { lastKnownGood } from '../../../src/operators/last-known-good.js';
import { inst, REGISTRY, setOf, shape, staleSince, testScheduler } from './fixtures.js';

const a = inst('a', { zone: 'z1', tags: ['v2'], metadata: { k: 'v' }, weight: 2 });
const b = inst('b');
const staleEmpty = emptySet('hello', REGISTRY, staleSince(100));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rxdisco-lkg-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Resolves with the file's JSON once it lists `ids` (writes are asynchronous). */
const writtenTo = async (file: string, ids: string[]): Promise<unknown> => {
  for (let k = 0; k < 2000; k++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text !== '') {
      const json = JSON.parse(text) as { instances: { record: { id: string } }[] };
      if (json.instances.map((i) => i.record.id).join() === ids.join()) return json;
    }
  }
  throw new Error(`${file} never held ${ids.join()}`);
};

describe('lastKnownGood()', () => {
  it('in memory: puts the last fresh set back, stale, when the source goes stale and empty', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const sets = cold('f-e-s-g', {
        f: setOf(a, b),
        e: staleEmpty,
        s: restale(setOf(b), staleSince(3)),
        g: emptySet('hello', REGISTRY),
      });
      expectObservable(sets.pipe(lastKnownGood(), map(shape))).toBe('f-e-s-g', {
        f: 'a,b',
        e: 'a,b (stale)',
        s: 'b (stale)',
        g: '',
      });
    });
  });

  it('persists fresh sets atomically and restores them at a cold start, marked stale', async () => {
    const file = join(dir, 'hello.json');
    const first = new Subject<InstanceSet>();
    const sub = first.pipe(lastKnownGood({ file })).subscribe();
    first.next(setOf(a, b));
    await writtenTo(file, ['a', 'b']);
    first.next(setOf(b));
    await writtenTo(file, ['b']);
    first.next(setOf(a, b));
    const json = (await writtenTo(file, ['a', 'b'])) as { format: string; service: string };
    expect(json).toMatchObject({ format: 'rxdisco-last-known-good/1', service: 'hello' });
    sub.unsubscribe();
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // A new process: the registry is down, the watch says "stale, nothing known".
    const restarted = new Subject<InstanceSet>();
    const out = new ReplaySubject<InstanceSet>();
    const sub2 = restarted.pipe(lastKnownGood({ file })).subscribe(out);
    restarted.next(staleEmpty); // held until the file is read, then replaced by its instances
    await firstValueFrom(out);
    restarted.next(setOf(b)); // the registry is back: a fresh set replaces the file's
    const [restored, fresh] = await firstValueFrom(out.pipe(take(2), toArray()));
    sub2.unsubscribe();
    expect(restored!.stale).toBe(true);
    expect(restored!.error).toBe(staleEmpty.error);
    expect(restored!.instances).toEqual([a, b]); // every field survives the file
    expect(fresh!.stale).toBe(false);
  });

  it('reports a corrupt file and ignores it', async () => {
    const file = join(dir, 'hello.json');
    await writeFile(file, '{"format":"rxdisco-last-known-good/1","instances":[{"port":0}]}');
    const problems: RxdiscoError[] = [];
    const input = new Subject<InstanceSet>();
    const out = firstValueFrom(
      input.pipe(lastKnownGood({ file, onProblem: (p) => problems.push(p) })),
    );
    input.next(staleEmpty);
    expect(shape(await out)).toBe(' (stale)');
    expect(problems).toHaveLength(1);
    expect(isDecodeError(problems[0])).toBe(true);
    expect(problems[0]!.message).toContain(file);
    await writeFile(file, 'not json');
    const again = new Subject<InstanceSet>();
    const out2 = firstValueFrom(
      again.pipe(lastKnownGood({ file, onProblem: (p) => problems.push(p) })),
    );
    again.next(staleEmpty);
    await out2;
    expect(problems[1]!.message).toMatch(/expected JSON/);
  });

  it('passes fresh sets at once without waiting for the file, and ignores a missing file', async () => {
    const input = new Subject<InstanceSet>();
    const problems: unknown[] = [];
    const seen: string[] = [];
    input
      .pipe(lastKnownGood({ file: join(dir, 'none.json'), onProblem: (p) => problems.push(p) }))
      .subscribe((s) => seen.push(shape(s)));
    input.next(setOf(b));
    expect(seen).toEqual(['b']);
    await writtenTo(join(dir, 'none.json'), ['b']);
    expect(problems).toEqual([]);
  });

  it('reports a failed write', async () => {
    const input = new Subject<InstanceSet>();
    const problem = new Promise<RxdiscoError>((resolve) => {
      input
        .pipe(lastKnownGood({ file: join(dir, 'missing-dir', 'x.json'), onProblem: resolve }))
        .subscribe();
    });
    input.next(setOf(a));
    expect((await problem).message).toMatch(/ENOENT/);
  });

  it('reports a file it cannot read as a ConfigError naming the file, not a registry fault', async () => {
    const file = join(dir, 'a-directory.json');
    await mkdir(file); // reading a directory fails with EISDIR
    const input = new Subject<InstanceSet>();
    const problem = new Promise<RxdiscoError>((resolve) => {
      input.pipe(lastKnownGood({ file, onProblem: resolve })).subscribe();
    });
    const p = await problem;
    expect(isConfigError(p)).toBe(true);
    expect(isRegistryUnavailableError(p)).toBe(false);
    expect(p.message).toContain(file);
    expect(p.message).toMatch(/cannot be read \(EISDIR/);
    expect(p.message).not.toMatch(/registry is running/);
  });

  it('reports a failed write as a ConfigError naming the file and the service', async () => {
    const file = join(dir, 'missing-dir', 'x.json');
    const input = new Subject<InstanceSet>();
    const problem = new Promise<RxdiscoError>((resolve) => {
      input.pipe(lastKnownGood({ file, onProblem: resolve })).subscribe();
    });
    input.next(setOf(a));
    const p = await problem;
    expect(isConfigError(p)).toBe(true);
    expect(p).toMatchObject({ service: 'hello', registry: REGISTRY });
    expect(p.message).toContain(`${file} cannot be written`);
  });

  it('errors the stream with what a throwing onProblem throws, never the process', async () => {
    const file = join(dir, 'corrupt.json');
    await writeFile(file, 'not json');
    const boom = new Error('onProblem failed');
    const input = new Subject<InstanceSet>();
    const failed = new Promise<unknown>((resolve) => {
      input
        .pipe(
          lastKnownGood({
            file,
            onProblem: () => {
              throw boom;
            },
          }),
        )
        .subscribe({ error: resolve });
    });
    input.next(staleEmpty);
    expect(await failed).toBe(boom);
    expect(input.observed).toBe(false); // the source was released
  });

  it('errors the stream with what a throwing clock throws, never the process', async () => {
    const boom = new Error('clock failed');
    const input = new Subject<InstanceSet>();
    const failed = new Promise<unknown>((resolve) => {
      input
        .pipe(
          lastKnownGood({
            file: join(dir, 'hello.json'),
            now: () => {
              throw boom;
            },
          }),
        )
        .subscribe({ error: resolve });
    });
    input.next(setOf(a));
    expect(await failed).toBe(boom);
  });

  it('rejects an empty file path when the pipeline is built', () => {
    expect(() => lastKnownGood({ file: '' })).toThrow('file must be a non-empty path (got "")');
  });
});

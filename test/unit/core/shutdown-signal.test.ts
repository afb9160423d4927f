import { describe, expect, it } from 'vitest';
import { shutdownSignal } from '../../../src/core/shutdown-signal.js';

const counts = () => ({
  SIGINT: process.listenerCount('SIGINT'),
  SIGTERM: process.listenerCount('SIGTERM'),
  SIGHUP: process.listenerCount('SIGHUP'),
});

describe('shutdownSignal', () => {
  it('installs listeners only while subscribed', () => {
    const before = counts();
    const signal$ = shutdownSignal();
    expect(counts()).toEqual(before);
    const sub = signal$.subscribe();
    expect(counts()).toEqual({
      ...before,
      SIGINT: before.SIGINT + 1,
      SIGTERM: before.SIGTERM + 1,
    });
    sub.unsubscribe();
    expect(counts()).toEqual(before);
  });

  it('emits the signal name once, completes and removes its listeners', () => {
    const before = counts();
    const seen: string[] = [];
    let completed = false;
    shutdownSignal().subscribe({ next: (s) => seen.push(s), complete: () => (completed = true) });
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGINT', 'SIGINT');
    expect(seen).toEqual(['SIGTERM']);
    expect(completed).toBe(true);
    expect(counts()).toEqual(before);
  });

  it('listens to the signals it is given', () => {
    const before = counts();
    const seen: string[] = [];
    const sub = shutdownSignal(['SIGHUP', 'SIGHUP']).subscribe((s) => seen.push(s));
    expect(counts()).toEqual({ ...before, SIGHUP: before.SIGHUP + 1 });
    process.emit('SIGINT', 'SIGINT');
    expect(seen).toEqual([]);
    process.emit('SIGHUP', 'SIGHUP');
    expect(seen).toEqual(['SIGHUP']);
    expect(counts()).toEqual(before);
    sub.unsubscribe();
  });
});

import { readFileSync } from 'node:fs';
import type { KyInstance } from 'ky';
import type { Observable, OperatorFunction } from 'rxjs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ServiceKy } from '../../../src/http/index.js';
import * as http from '../../../src/http/index.js';
import type { Balancer, Instance, InstanceSet } from '../../../src/index.js';
import * as rxdisco from '../../../src/index.js';

describe('the public API of calls, health and composition', () => {
  it('exports every operator from rxdisco, and kyFor only from rxdisco/ky', () => {
    for (const name of [
      'ewma',
      'consistentHash',
      'call',
      'call$',
      'retryBudget',
      'defaultRetryBudget',
      'createOutlierDetector',
      'holdRemovals',
      'panicGuard',
      'fallback',
      'mergeRegistries',
      'lastKnownGood',
      'CallError',
      'AttemptTimeoutError',
      'UnsuccessfulValue',
      'isUnsuccessfulValue',
      'isCallError',
      'isAttemptTimeoutError',
    ]) {
      expect((rxdisco as Record<string, unknown>)[name], name).toBeDefined();
    }
    expect('kyFor' in rxdisco).toBe(false);
    expect(http.kyFor).toBeTypeOf('function');
    const index = readFileSync(new URL('../../../src/index.ts', import.meta.url), 'utf8');
    expect(index).not.toMatch(/http\//);
  });

  it('has types that guide', () => {
    expectTypeOf(rxdisco.ewma).returns.toEqualTypeOf<OperatorFunction<InstanceSet, Balancer>>();
    expectTypeOf(rxdisco.consistentHash).returns.toEqualTypeOf<
      OperatorFunction<InstanceSet, Balancer>
    >();
    expectTypeOf(rxdisco.call<number>).returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf(rxdisco.call$<number>).returns.toEqualTypeOf<Observable<number>>();
    expectTypeOf(rxdisco.fallback).returns.toEqualTypeOf<Observable<InstanceSet>>();
    expectTypeOf(rxdisco.mergeRegistries).returns.toEqualTypeOf<Observable<InstanceSet>>();
    expectTypeOf<rxdisco.CallError['attempts'][number]['instance']>().toEqualTypeOf<Instance>();
    expectTypeOf<ServiceKy>().toMatchTypeOf<KyInstance>();
    expectTypeOf(rxdisco.CallError).instance.toMatchTypeOf<rxdisco.RxdiscoError>();
    expectTypeOf(rxdisco.UnsuccessfulValue).instance.toMatchTypeOf<rxdisco.RxdiscoError>();
    expectTypeOf<rxdisco.CallOptions['retry']>().toEqualTypeOf<
      rxdisco.RetryOptions | number | undefined
    >();
    expectTypeOf<rxdisco.Outcome>().toEqualTypeOf<
      rxdisco.CompletedOutcome | rxdisco.CancelledOutcome
    >();
    expectTypeOf<http.KyForOptions['retry']>().toEqualTypeOf<
      http.KyRetryOptions | number | undefined
    >();
    // the old names are gone
    expectTypeOf<rxdisco.CallOptions>().not.toHaveProperty('attempts');
    expectTypeOf<rxdisco.CallOptions>().not.toHaveProperty('attemptTimeout');
    expectTypeOf<rxdisco.CallOptions>().not.toHaveProperty('now');
    expectTypeOf<rxdisco.RetryBudgetOptions>().not.toHaveProperty('percent');
    expectTypeOf<rxdisco.PickAsyncOptions>().toHaveProperty('timeoutMs');
  });
});

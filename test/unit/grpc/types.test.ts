/**
 * Type tests of rxdisco/grpc: the module of grpc-js 1.14.x and of 1.13.x
 * both fit `GrpcModule` as they are (no cast), and the registration's shape.
 */
import * as grpc14 from '@grpc/grpc-js';
import * as grpc13 from 'grpc-js-113';
import { describe, expectTypeOf, it } from 'vitest';
import type { GrpcModule, RxdiscoResolver } from '../../../src/grpc/index.js';
import { registerRxdiscoResolver } from '../../../src/grpc/index.js';

describe('rxdisco/grpc types', () => {
  it('takes the grpc-js module of either minor', () => {
    expectTypeOf(grpc14).toExtend<GrpcModule>();
    expectTypeOf(grpc13).toExtend<GrpcModule>();
    expectTypeOf(registerRxdiscoResolver).returns.toEqualTypeOf<RxdiscoResolver>();
    expectTypeOf<RxdiscoResolver['target']>().toEqualTypeOf<(service: string) => string>();
  });
});

import { createInstance, type Instance, type InstanceSpec } from '../../../src/core/instance.js';

export const REGISTRY = 'memory://test';

/** An instance of `hello` at 10.0.0.n:8080 with id `n`. */
export const inst = (n: number | string, extra: Partial<InstanceSpec> = {}): Instance =>
  createInstance(
    { id: String(n), service: 'hello', host: `10.0.0.${n}`, port: 8080, ...extra },
    REGISTRY,
  );

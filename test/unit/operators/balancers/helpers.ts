import { type OperatorFunction, Subject } from 'rxjs';
import type { InstanceSet } from '../../../../src/core/instance-set.js';
import type { Balancer } from '../../../../src/operators/balancers/balancer.js';

/** Drives a balancer operator by hand: `push(set)` returns the balancer built for it. */
export const drive = (
  operator: OperatorFunction<InstanceSet, Balancer>,
): { push(set: InstanceSet): Balancer; close(): void } => {
  const input = new Subject<InstanceSet>();
  let latest: Balancer | undefined;
  const sub = input.pipe(operator).subscribe((b) => {
    latest = b;
  });
  return {
    push: (set) => {
      latest = undefined;
      input.next(set);
      if (latest === undefined) throw new Error('the operator emitted no balancer');
      return latest;
    },
    close: () => sub.unsubscribe(),
  };
};

/** `times` picks, as ids. */
export const picks = (balancer: Balancer, times: number): string[] =>
  Array.from({ length: times }, () => balancer.pick()?.id ?? '-');

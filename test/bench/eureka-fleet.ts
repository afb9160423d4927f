/**
 * Shared set-up of the Eureka benches: fills a server with a fleet of
 * instances and waits until their registrations have left the delta queue.
 */
import { postInstance, rawInstanceInfo } from '../integration/eureka/harness.js';
import { rawRequest } from '../servers/eureka.js';
import { until } from '../servers/process.js';

/**
 * Registers `perApp` instances of each of `services` (ids `<service>-<i>`,
 * ports from 10000), 8 requests at a time, then waits for a stable registry.
 */
export const fillRegistry = async (
  base: string,
  services: readonly string[],
  perApp: number,
): Promise<void> => {
  const records = services.flatMap((service) =>
    Array.from({ length: perApp }, (_, i) => ({ service, i })),
  );
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < records.length) {
        const { service, i } = records[next++]!;
        await postInstance(
          base,
          service.toUpperCase(),
          rawInstanceInfo({ service, id: `${service}-${i}`, host: '127.0.0.1', port: 10_000 + i }),
        );
      }
    }),
  );
  await until(
    async () => (await rawRequest('GET', `${base}/apps/delta`)).text.length < 2000,
    30_000,
    'the delta queue to drain',
  );
};

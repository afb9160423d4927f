/**
 * How `rxdisco register` shows a {@link RegistrationEvent}: one NDJSON line,
 * or one readable line.
 *
 * @module
 */
import { formatDuration } from '../core/options.js';
import type { RegistrationEvent } from '../core/registration.js';
import { address } from './format-set.js';

/**
 * One NDJSON line for a lifecycle event:
 * `{"type":"registered","id":"...","service":"...","host":"...","port":9000,"registry":"memory://","at":"<ISO>"}`,
 * plus `error` (message) and `delayMs` when the event has them.
 */
export const eventToJson = (event: RegistrationEvent): string =>
  JSON.stringify({
    type: event.type,
    id: event.instance.id,
    service: event.instance.service,
    host: event.instance.host,
    port: event.instance.port,
    registry: event.instance.registry,
    at: new Date(event.at).toISOString(),
    ...(event.type === 'retrying' ? { delayMs: event.delayMs } : {}),
    ...('error' in event && event.error !== undefined ? { error: event.error.message } : {}),
  });

/**
 * One readable line for a lifecycle event:
 * `2025-01-01T00:00:00.000Z registered hello 127.0.0.1:9000 (id 127.0.0.1:9000) in memory://`.
 */
export const formatEvent = (event: RegistrationEvent): string => {
  const i = event.instance;
  const what = `${i.service} ${address(i)} (id ${i.id}) in ${i.registry}`;
  const tail =
    event.type === 'retrying'
      ? `; retrying in ${formatDuration(event.delayMs)}: ${event.error.message}`
      : 'error' in event && event.error !== undefined
        ? `: ${event.error.message}`
        : '';
  return `${new Date(event.at).toISOString()} ${event.type} ${what}${tail}`;
};

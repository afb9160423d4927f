/**
 * A fake Eureka for unit tests: a `fetch` that answers from a script of
 * responses per path (the last one repeats) and records every request.
 */
import { readFileSync } from 'node:fs';
import {
  decodeApplications,
  type RawApplications,
} from '../../../../src/backends/eureka/codecs.js';

/** The error context of the registry copies built in unit tests. */
export const ctx = { registry: 'eureka://test' };

/** A `GET /apps` body decoded (it must decode). */
export const apps = (body: unknown): RawApplications => {
  const d = decodeApplications(body, '/apps', ctx);
  if (!d.ok) throw d.error;
  return d.value;
};

/** One scripted answer: a JSON body, raw text, or a thrown network error. */
export type Answer = { status?: number; json?: unknown; text?: string } | { fail: string };

/** A recorded fixture under fixtures/. */
export const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8'));

/** A deep copy, to edit a fixture. */
export const clone = <T>(v: T): T => structuredClone(v);

/** The fake: `fetch` for ky, the requests seen, and the scripts to fill. */
export const fakeEureka = (script: Record<string, Answer[]>) => {
  const requests: { method: string; url: string; body: string }[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    requests.push({ method: request.method, url: url.href, body: await request.text() });
    const key = `${request.method} ${url.host}${url.pathname}`;
    const answers = script[key] ?? script[`${request.method} ${url.pathname}`];
    if (answers === undefined || answers.length === 0) return new Response('', { status: 404 });
    const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
    if ('fail' in answer) throw new TypeError('fetch failed', { cause: { code: answer.fail } });
    const body = answer.text ?? (answer.json === undefined ? '' : JSON.stringify(answer.json));
    return new Response(answer.status === 204 ? null : body, { status: answer.status ?? 200 });
  };
  return { fetch: fetch as typeof globalThis.fetch, requests, script };
};

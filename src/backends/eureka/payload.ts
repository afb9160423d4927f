/**
 * A Eureka registry payload (`GET /apps`, `GET /apps/delta`) parsed down to
 * its instances and no further: the envelope (`applications`, each
 * `application`'s `name`) is parsed, each instance is left as its JSON
 * text ({@link UnparsedInstance}), found by a scan and parsed when the
 * registry copy visits it, a slice at a time. So the whole registry is
 * never one parsed tree, and the parse does not block the event loop for
 * the whole answer.
 *
 * Everything `JSON.parse` rejects is rejected: the envelope here (a
 * `SyntaxError`), an instance when it is parsed.
 *
 * @module
 */
import { RegistryUnavailableError } from '../../core/errors.js';
import { scanValue, skipSpace, stringEnd } from '../../core/json-array.js';

/** An instance of a payload, not parsed yet: its JSON text. */
export class UnparsedInstance {
  constructor(
    private readonly text: string,
    private readonly start: number,
    private readonly end: number,
    /** The request that answered it (`GET /apps`), for the error of invalid JSON. */
    readonly what: string,
  ) {}

  /** Characters of its JSON text. */
  get length(): number {
    return this.end - this.start;
  }

  /**
   * The instance, parsed.
   *
   * @throws {RegistryUnavailableError} for text that is not JSON: the whole
   *   answer is unusable, as if `JSON.parse` of it had failed.
   */
  parse(): unknown {
    try {
      return JSON.parse(this.text.slice(this.start, this.end));
    } catch (e) {
      throw new RegistryUnavailableError(
        `${this.what} answered with invalid JSON (${(e as Error).message})`,
      );
    }
  }
}

/**
 * What to do with a value: leave it unparsed, parse the listed fields of
 * an object with their own plans, or the elements of an array (or a single
 * element sent without its array, as Eureka does) with one plan. A value
 * without a plan is parsed by `JSON.parse`.
 */
type Plan =
  | 'unparsed'
  | { readonly fields: Readonly<Record<string, Plan>> }
  | { readonly each: Plan };

const PAYLOAD: Plan = {
  fields: {
    applications: {
      fields: { application: { each: { fields: { instance: { each: 'unparsed' } } } } },
    },
  },
};

const COLON = 0x3a;
const COMMA = 0x2c;
const QUOTE = 0x22;
const OPEN_CURLY = 0x7b;
const CLOSE_CURLY = 0x7d;
const OPEN_SQUARE = 0x5b;
const CLOSE_SQUARE = 0x5d;

class Parser {
  at = 0;

  constructor(
    private readonly text: string,
    private readonly what: string,
  ) {}

  value(plan: Plan | undefined): unknown {
    const text = this.text;
    this.at = skipSpace(text, this.at);
    const c = text.charCodeAt(this.at);
    if (plan !== undefined && plan !== 'unparsed') {
      if ('each' in plan) {
        if (c === OPEN_SQUARE) return this.array(plan.each);
        if (c === OPEN_CURLY) return this.value(plan.each);
      } else if (c === OPEN_CURLY) return this.object(plan.fields);
    }
    const start = this.at;
    const end = scanValue(text, start);
    this.at = end;
    if (plan === 'unparsed' && c === OPEN_CURLY) {
      return new UnparsedInstance(text, start, end, this.what);
    }
    return JSON.parse(text.slice(start, end));
  }

  private object(fields: Readonly<Record<string, Plan>>): Record<string, unknown> {
    const text = this.text;
    const out: Record<string, unknown> = {};
    this.at = skipSpace(text, this.at + 1);
    if (text.charCodeAt(this.at) === CLOSE_CURLY) {
      this.at++;
      return out;
    }
    for (;;) {
      if (text.charCodeAt(this.at) !== QUOTE) throw new SyntaxError('expected a field name');
      const close = stringEnd(text, this.at);
      const key = JSON.parse(text.slice(this.at, close + 1)) as string;
      this.at = skipSpace(text, close + 1);
      if (text.charCodeAt(this.at) !== COLON) throw new SyntaxError('expected :');
      this.at++;
      const v = this.value(Object.hasOwn(fields, key) ? fields[key] : undefined);
      // As JSON.parse does: `__proto__` is a field like any other.
      Object.defineProperty(out, key, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.at = skipSpace(text, this.at);
      const c = text.charCodeAt(this.at);
      if (c === CLOSE_CURLY) {
        this.at++;
        return out;
      }
      if (c !== COMMA) throw new SyntaxError('expected , or }');
      this.at = skipSpace(text, this.at + 1);
    }
  }

  private array(each: Plan): unknown[] {
    const text = this.text;
    const out: unknown[] = [];
    this.at = skipSpace(text, this.at + 1);
    if (text.charCodeAt(this.at) === CLOSE_SQUARE) {
      this.at++;
      return out;
    }
    for (;;) {
      out.push(this.value(each));
      this.at = skipSpace(text, this.at);
      const c = text.charCodeAt(this.at);
      if (c === CLOSE_SQUARE) {
        this.at++;
        return out;
      }
      if (c !== COMMA) throw new SyntaxError('expected , or ]');
      this.at++;
    }
  }
}

/**
 * Parses a registry payload, leaving each instance as an
 * {@link UnparsedInstance}.
 *
 * @param what - the request (`GET /apps`), named by the error of an
 *   instance that turns out not to be JSON.
 * @throws {SyntaxError} when the envelope is not JSON.
 */
export const parsePayload = (text: string, what: string): unknown => {
  const start = skipSpace(text, 0);
  if (text.charCodeAt(start) !== OPEN_CURLY) return JSON.parse(text);
  const parser = new Parser(text, what);
  parser.at = start;
  const value = parser.value(PAYLOAD);
  if (skipSpace(text, parser.at) < text.length)
    throw new SyntaxError('unexpected text after the payload');
  return value;
};

/** Characters of `raw`'s JSON text when it is an {@link UnparsedInstance}, else 0. */
export const unparsedLength = (raw: unknown): number =>
  raw instanceof UnparsedInstance ? raw.length : 0;

/** `raw` parsed, when it is an {@link UnparsedInstance}. */
export const parsedInstance = (raw: unknown): unknown =>
  raw instanceof UnparsedInstance ? raw.parse() : raw;

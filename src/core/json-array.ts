/**
 * Reading a big JSON array answer element by element: the text of each
 * element is found by a scan (strings and nesting tracked, nothing built)
 * and parsed on its own, so the whole answer is never one parsed tree (a
 * Consul health answer of 100,000 entries parses into about three times
 * its size) and decoding can stop between two elements to let the event
 * loop run ({@link runInSlices}).
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_SQUARE = 0x5b;
const CLOSE_SQUARE = 0x5d;
const OPEN_CURLY = 0x7b;
const CLOSE_CURLY = 0x7d;
const COMMA = 0x2c;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * Where the JSON value that starts at `i` (after white space) ends: the
 * index of the first `,`, `]` or `}` outside of it (strings and nesting
 * tracked, nothing built). The value itself is not checked: `JSON.parse`
 * of `text.slice(i, end)` does that.
 *
 * @throws {SyntaxError} for an unterminated string or value.
 */
export const scanValue = (text: string, i: number): number => {
  const length = text.length;
  let depth = 0;
  for (; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === OPEN_SQUARE || c === OPEN_CURLY) depth++;
    else if (c === CLOSE_SQUARE || c === CLOSE_CURLY) {
      if (depth === 0) return i;
      depth--;
    } else if (c === COMMA && depth === 0) return i;
  }
  throw new SyntaxError('unterminated value');
};

/**
 * The index of the quote that closes the string opened at `i`: the next
 * one preceded by an even run of backslashes.
 *
 * @throws {SyntaxError} for an unterminated string.
 */
export const stringEnd = (text: string, i: number): number => {
  let j = i;
  for (;;) {
    j = text.indexOf('"', j + 1);
    if (j < 0) throw new SyntaxError('unterminated string');
    let k = j - 1;
    while (text.charCodeAt(k) === BACKSLASH) k--;
    if ((j - 1 - k) % 2 === 0) return j;
  }
};

/** The index of the first character at or after `i` that is not JSON white space. */
export const skipSpace = (text: string, i: number): number => {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
};

/**
 * The elements of the JSON array `text`, one at a time. The separators are
 * checked here and each element by `JSON.parse`, so every text that
 * `JSON.parse` rejects is rejected too (with a `SyntaxError`), at the
 * latest when its last element is read.
 */
export class JsonArrayReader {
  private at: number;
  private done = false;

  /** @throws {SyntaxError} when `text` does not start with `[`. */
  constructor(private readonly text: string) {
    let i = 0;
    while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== OPEN_SQUARE) throw new SyntaxError('expected a JSON array');
    i++;
    while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) === CLOSE_SQUARE) {
      this.done = true;
      this.end(i + 1);
    }
    this.at = i;
  }

  /** Characters read so far. */
  get position(): number {
    return this.at;
  }

  /** Characters of the element {@link next} returned last. */
  lastChars = 0;

  /** What {@link next} returns after the last element. */
  static readonly END: unique symbol = Symbol('end of the JSON array');

  /**
   * The next element, parsed (`JSON.parse` of its text; its length is then
   * {@link lastChars}), or {@link JsonArrayReader.END} after the last one.
   *
   * @throws {SyntaxError} for text that is not JSON.
   */
  next(): unknown {
    if (this.done) return JsonArrayReader.END;
    const text = this.text;
    const start = this.at;
    const stop = this.scan(start);
    const value: unknown = JSON.parse(text.slice(start, stop));
    let i = stop;
    if (text.charCodeAt(i) === COMMA) {
      i++;
      while (i < text.length && isSpace(text.charCodeAt(i))) i++;
      if (text.charCodeAt(i) === CLOSE_SQUARE) throw new SyntaxError('expected a value after ,');
    } else {
      // scan() stops at a comma or at the closing bracket of the array.
      this.done = true;
      this.end(i + 1);
    }
    this.at = i;
    this.lastChars = stop - start;
    return value;
  }

  /** Where the element starting at `i` ends: the index of the `,` or `]` after it. */
  private scan(i: number): number {
    const end = scanValue(this.text, i);
    if (this.text.charCodeAt(end) === CLOSE_CURLY) throw new SyntaxError('unexpected }');
    return end;
  }

  /** Checks that only white space follows the array. */
  private end(i: number): void {
    const text = this.text;
    while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    if (i < text.length) throw new SyntaxError('unexpected text after the array');
  }
}

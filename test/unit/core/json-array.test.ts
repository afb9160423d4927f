/**
 * JsonArrayReader: a JSON array read element by element accepts exactly
 * what JSON.parse accepts, and gives the same values.
 */
import { describe, expect, it } from 'vitest';
import { JsonArrayReader } from '../../../src/core/json-array.js';

const readAll = (text: string): unknown[] => {
  const r = new JsonArrayReader(text);
  const out: unknown[] = [];
  for (let v = r.next(); v !== JsonArrayReader.END; v = r.next()) out.push(v);
  return out;
};

describe('JsonArrayReader', () => {
  it.each([
    '[]',
    ' [ ] ',
    '[1]',
    '[1, "two", null, true, {"a": [1, {"b": "]}"}]}, [[]]]',
    '["a\\"],", {"k\\\\": "\\\\"}, "\\\\\\"]"]',
    '\n[\n{"x": "{[" }\t,\r\n{"y":"}"}\n]\n',
  ])('reads %s as JSON.parse does', (text) => {
    expect(readAll(text)).toEqual(JSON.parse(text));
  });

  it.each([
    '',
    '[',
    '[1',
    '[1 2]',
    '[1,]',
    '[,1]',
    '[1,,2]',
    '[{"a":1}}]',
    '[{"a":1]',
    '[1] x',
    '[1],[2]',
    '["abc]',
    '["a\\"]',
    '[{"a" 1}]',
  ])('rejects %j as JSON.parse does', (text) => {
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    expect(() => readAll(text)).toThrow(SyntaxError);
  });

  it('refuses JSON that is not an array', () => {
    expect(() => new JsonArrayReader('{"a": [1]}')).toThrow('expected a JSON array');
  });

  it('says how many characters each element took', () => {
    const r = new JsonArrayReader('[ {"a":1} ,22]');
    r.next();
    expect(r.lastChars).toBe('{"a":1} '.length);
    r.next();
    expect(r.lastChars).toBe(2);
    expect(r.next()).toBe(JsonArrayReader.END);
  });
});

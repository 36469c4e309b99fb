import { parseJson, stringifyJson } from '../../src/common/json';

describe('parseJson: JSON with exact 64-bit integers', () => {
  test('keeps integers a double cannot hold as bigint, and everything else as JSON.parse does', () => {
    const text = '{"max":18446744073709551615,"big":-9223372036854775808,"safe":9007199254740991,"f":1.5e3,"e":1e30,"s":"12345678901234567890","a":[true,false,null,{"x":"\\u00e9\\n"}]}';
    expect(parseJson(text)).toEqual({
      max: 18446744073709551615n, big: -9223372036854775808n, safe: 9007199254740991, f: 1500, e: 1e30, s: '12345678901234567890',
      a: [true, false, null, { x: 'é\n' }],
    });
  });

  test('agrees with JSON.parse on documents of every shape, once integers are compared as numbers', () => {
    const docs = ['[]', '{}', ' [1, -0, 0.5, "a\\"b", {"k": [ {} ]}] ', '"1234567890123456"', '{"__proto__": 1, "a": 1, "a": 2}'];
    // The big literal in front sends each document through the exact parser rather than JSON.parse.
    for (const d of docs) expect(parseJson(`[1234567890123456789,${d}]`)).toEqual([1234567890123456789n, JSON.parse(d)]);
  });

  test('rejects malformed input with a position', () => {
    for (const bad of ['[1234567890123456789', '{"a" 1234567890123456789}', '[1234567890123456789,]', '[01, 1234567890123456789]', '{"a":1234567890123456789} x', '[1234567890123456789, "unterminated]']) {
      expect(() => parseJson(bad)).toThrow(/at position \d+/);
    }
  });

  test('stringifyJson writes bigints as plain literals and round-trips', () => {
    const v = { a: 18446744073709551615n, b: [1, 'x', null, undefined], c: undefined, d: { e: false } };
    const text = stringifyJson(v);
    expect(text).toBe('{"a":18446744073709551615,"b":[1,"x",null,null],"d":{"e":false}}');
    expect(parseJson(text)).toEqual({ a: 18446744073709551615n, b: [1, 'x', null, null], d: { e: false } });
  });
});

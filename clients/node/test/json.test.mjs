// Exact 64-bit integers in replies and requests (docs/PROTOCOL.md section 16).
import assert from "node:assert/strict";
import { test } from "node:test";
import { JsonSyntaxError, parseJson, stringifyJson } from "sessiondb";

test("integers beyond 2^53 parse as bigint, everything else as JSON.parse does", () => {
  const text = '{"tkn":15900886249489855254,"safe":9007199254740991,"edge":9007199254740992,"neg":-9223372036854775808,' +
    '"f":1.5e300,"long":1234567890123456.5,"s":"a\\"b\\u00e9 1234567890123456789","n":null,"t":true,"a":[[],{}]}';
  assert.deepEqual(parseJson(text), {
    tkn: 15900886249489855254n, safe: 9007199254740991, edge: 9007199254740992n, neg: -9223372036854775808n,
    f: 1.5e300, long: 1234567890123456.5, s: 'a"bé 1234567890123456789', n: null, t: true, a: [[], {}],
  });
});

test("text without long digit runs takes JSON.parse's path and gives the same values", () => {
  assert.deepEqual(parseJson('{"a":[1,2.5,"x"],"b":{"c":false}}'), { a: [1, 2.5, "x"], b: { c: false } });
});

test("a member named __proto__ stays a member", () => {
  const value = parseJson('{"__proto__":{"x":1},"t":12345678901234567890}');
  assert.deepEqual(Object.keys(value), ["__proto__", "t"]);
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
});

test("malformed text is refused with the offset", () => {
  for (const bad of ['{"a":12345678901234567890,}', "[12345678901234567890", '"12345678901234567890', "12345678901234567890 x", "{a:12345678901234567890}"]) {
    assert.throws(() => parseJson(bad), JsonSyntaxError, bad);
  }
});

test("bigint goes out as bare digits, and everything else as JSON.stringify writes it", () => {
  const value = { tkn: 18446744073709551615n, at: new Date(0), u: undefined, f: () => 1, a: [undefined, 1n, NaN], n: { x: -0 } };
  assert.equal(stringifyJson(value), '{"tkn":18446744073709551615,"at":"1970-01-01T00:00:00.000Z","a":[null,1,null],"n":{"x":0}}');
  const plain = { ...value, tkn: 1, a: [undefined, 1, NaN] };
  assert.equal(stringifyJson(plain), JSON.stringify(plain));
  assert.throws(() => stringifyJson(undefined), TypeError);
});

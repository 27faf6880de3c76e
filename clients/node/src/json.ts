/**
 * JSON with exact 64-bit integers.
 *
 * Session tokens are u64 and most are above 2^53, where a JavaScript `number` is no longer exact
 * (docs/PROTOCOL.md section 16). Replies are therefore parsed so that every integer literal outside
 * the safe range becomes a `bigint`, and requests are written so that a `bigint` goes out as bare
 * digits. Node 20 has neither `JSON.parse` source access nor `JSON.rawJSON`, hence this module.
 */

/** A JSON value as this package reads it: unsafe integers are `bigint`. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** Thrown by {@link parseJson} for text that is not strict JSON. */
export class JsonSyntaxError extends SyntaxError {
  /** Creates the error; `at` is the offset in the text where the problem was found. */
  constructor(message: string, readonly at: number) {
    super(`${message} at offset ${at}`);
    this.name = "JsonSyntaxError";
  }
}

// No integer of 15 digits or fewer is beyond 2^53, so text without a run of 16 digits can go to the
// engine's own (much faster) JSON.parse unchanged.
const MAYBE_UNSAFE_INTEGER = /\d{16}/;

/** Parses strict JSON, turning integer literals beyond `Number.MAX_SAFE_INTEGER` into `bigint`. */
export function parseJson(text: string): JsonValue {
  if (!MAYBE_UNSAFE_INTEGER.test(text)) {
    return JSON.parse(text) as JsonValue;
  }
  return new Parser(text).document();
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  document(): JsonValue {
    const value = this.value();
    this.skipWhitespace();
    if (this.pos !== this.text.length) {
      throw new JsonSyntaxError("unexpected text after the JSON value", this.pos);
    }
    return value;
  }

  private value(): JsonValue {
    this.skipWhitespace();
    const c = this.text[this.pos];
    switch (c) {
      case "{":
        return this.object();
      case "[":
        return this.array();
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
      default:
        return this.number();
    }
  }

  private object(): { [key: string]: JsonValue } {
    const out: { [key: string]: JsonValue } = {};
    this.pos++;
    this.skipWhitespace();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') throw new JsonSyntaxError("expected a member name", this.pos);
      const key = this.string();
      this.skipWhitespace();
      this.expect(":");
      // defineProperty, not assignment: a member named "__proto__" must stay a plain member.
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.skipWhitespace();
      if (this.text[this.pos] === ",") {
        this.pos++;
        continue;
      }
      this.expect("}");
      return out;
    }
  }

  private array(): JsonValue[] {
    const out: JsonValue[] = [];
    this.pos++;
    this.skipWhitespace();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.skipWhitespace();
      if (this.text[this.pos] === ",") {
        this.pos++;
        continue;
      }
      this.expect("]");
      return out;
    }
  }

  private string(): string {
    // Find the closing quote, stepping over escapes, and let JSON.parse decode the escapes.
    const start = this.pos;
    let i = start + 1;
    for (;;) {
      const c = this.text.charCodeAt(i);
      if (Number.isNaN(c)) throw new JsonSyntaxError("unterminated string", start);
      if (c === 0x22) break;
      i += c === 0x5c ? 2 : 1;
    }
    this.pos = i + 1;
    return JSON.parse(this.text.slice(start, this.pos)) as string;
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) throw new JsonSyntaxError("unexpected character", this.pos);
    this.pos = NUMBER.lastIndex;
    const literal = match[0];
    const value = Number(literal);
    if (match[1] === undefined && match[2] === undefined && !Number.isSafeInteger(value)) {
      return BigInt(literal);
    }
    return value;
  }

  private literal<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) throw new JsonSyntaxError("unexpected character", this.pos);
    this.pos += word.length;
    return value;
  }

  private expect(c: string): void {
    if (this.text[this.pos] !== c) throw new JsonSyntaxError(`expected '${c}'`, this.pos);
    this.pos++;
  }

  private skipWhitespace(): void {
    WHITESPACE.lastIndex = this.pos;
    WHITESPACE.exec(this.text);
    this.pos = WHITESPACE.lastIndex;
  }
}

/**
 * Writes a value as compact JSON exactly as `JSON.stringify` does (honouring `toJSON`, leaving out
 * `undefined` and function members, writing a non-finite number as `null`), except that a
 * `bigint`, which `JSON.stringify` refuses, is written as its digits.
 */
export function stringifyJson(value: unknown): string {
  let out: string | undefined;
  try {
    out = JSON.stringify(value);
  } catch (error) {
    // The engine's writer throws on the first bigint; only then is the value walked here.
    if (!(error instanceof TypeError) || !containsBigInt(value, new Set())) throw error;
    out = write(value, "");
  }
  if (out === undefined) throw new TypeError("cannot send undefined as JSON");
  return out;
}

function containsBigInt(value: unknown, seen: Set<object>): boolean {
  if (typeof value === "bigint") return true;
  if (value === null || typeof value !== "object" || seen.has(value)) return false;
  seen.add(value);
  return Object.values(value).some((v) => containsBigInt(v, seen));
}

function write(value: unknown, key: string): string | undefined {
  if (value !== null && typeof value === "object" && typeof (value as { toJSON?: unknown }).toJSON === "function") {
    value = (value as { toJSON(key: string): unknown }).toJSON(key);
  }
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return JSON.stringify(value);
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (value === null) return "null";
      if (Array.isArray(value)) {
        return `[${value.map((item, i) => write(item, String(i)) ?? "null").join(",")}]`;
      }
      return writeObject(value as Record<string, unknown>);
    default:
      // undefined, functions and symbols: left out of objects, null in arrays, as JSON.stringify does.
      return undefined;
  }
}

function writeObject(object: Record<string, unknown>): string {
  const members: string[] = [];
  for (const name of Object.keys(object)) {
    const text = write(object[name], name);
    if (text !== undefined) members.push(`${JSON.stringify(name)}:${text}`);
  }
  return `{${members.join(",")}}`;
}

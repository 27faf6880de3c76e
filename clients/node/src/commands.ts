/** Request building and reply reading for each command of docs/PROTOCOL.md. */

import { ProtocolError, SessiondbError, Status } from "./errors.js";
import { type JsonValue, parseJson, stringifyJson } from "./json.js";

/** A session token: a u64, always returned as `bigint`; a safe-integer `number` is accepted too. */
export type Token = bigint | number;

/** A reply body: `st` and the command's members. */
export type ReplyBody = { st: number } & Record<string, JsonValue>;

/** One command: what to send, which status means success, and how to read the result. */
export interface Call<T> {
  /** The command name, e.g. `"SH_GET"`. */
  readonly command: string;
  /** The request body. */
  readonly body: Record<string, unknown>;
  /** The status that means success. */
  readonly success: number;
  /** Reads the result out of a successful reply body. */
  readonly extract: (body: ReplyBody) => T;
  /**
   * Whether sending it twice has the same effect as once, so the client may send it again on a
   * new connection when the first dropped before the reply.
   */
  readonly idempotent: boolean;
}

/** Builds a {@link Call}; reads are idempotent, everything else is not. */
export function call<T = void>(
  command: string,
  body: Record<string, unknown>,
  extract: (body: ReplyBody) => T = () => undefined as T,
  options: { success?: number; idempotent?: boolean } = {},
): Call<T> {
  return { command, body, extract, success: options.success ?? Status.OK, idempotent: options.idempotent ?? false };
}

/** The request text of a call. */
export function requestText(c: Call<unknown>): string {
  const { tkn, ...rest } = c.body;
  if (typeof tkn !== "bigint") return stringifyJson({ [c.command]: c.body });
  // Most requests carry a bigint token and nothing else that JSON.stringify refuses: writing the
  // token into the text keeps the rest on the engine's own writer.
  const others = stringifyJson(rest);
  const body = others === "{}" ? `{"tkn":${tkn}}` : `{"tkn":${tkn},${others.slice(1)}`;
  return `{${JSON.stringify(c.command)}:${body}}`;
}

/** Splits a reply into its name and body; throws ProtocolError if it is malformed. */
export function parseReply(text: string): [string, ReplyBody] {
  let value: JsonValue;
  try {
    value = parseJson(text);
  } catch (e) {
    throw new ProtocolError(`reply is not JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value) || Object.keys(value).length !== 1) {
    throw new ProtocolError(`reply is not an object with one member: ${text.slice(0, 200)}`);
  }
  const [name, body] = Object.entries(value)[0];
  if (body === null || typeof body !== "object" || Array.isArray(body) || !Number.isSafeInteger(body.st)) {
    throw new ProtocolError(`reply body has no numeric st: ${text.slice(0, 200)}`);
  }
  return [name, body as ReplyBody];
}

/** Checks the reply to `c` and returns its result, or throws SessiondbError. */
export function finish<T>(c: Call<T>, text: string): T {
  const [name, body] = parseReply(text);
  if (body.st !== c.success) throw new SessiondbError(body.st, name, body);
  return c.extract(body);
}

/** A token checked for sending: a non-negative integer, as `bigint`. */
export function token(tkn: Token): bigint {
  if (typeof tkn === "bigint" && tkn >= 0n && tkn < 2n ** 64n) return tkn;
  if (typeof tkn === "number" && Number.isSafeInteger(tkn) && tkn >= 0) return BigInt(tkn);
  throw new TypeError(`a session token is a u64 (bigint, or a safe non-negative integer), not ${String(tkn)}`);
}

/** A token read from a reply, always as `bigint`. */
export function tokenOf(value: JsonValue | undefined): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  throw new ProtocolError(`expected a token, got ${String(value)}`);
}

/** `keys` checked to be a plain object of values. */
export function keysObject(keys: Record<string, unknown>): Record<string, unknown> {
  if (keys === null || typeof keys !== "object" || Array.isArray(keys)) {
    throw new TypeError("keys must be an object of key to value");
  }
  return keys;
}

/** A list of key names; a bare string is one key, not a list of characters. */
export function keyList(keys: Iterable<string> | string): string[] {
  return typeof keys === "string" ? [keys] : Array.from(keys);
}

/** The reply body without `st`. */
export function withoutSt(body: ReplyBody): Record<string, JsonValue> {
  const { st: _st, ...rest } = body;
  return rest;
}

/** The member `name` of a reply body. */
export function member<T>(name: string): (body: ReplyBody) => T {
  return (body) => body[name] as T;
}

// Schemes people try by habit, and the WebSocket scheme that replaces each.
const SCHEME_INSTEAD: Record<string, string> = {
  redis: "ws",
  rediss: "wss",
  http: "ws",
  https: "wss",
  tcp: "ws",
  tls: "wss",
  unix: "ws",
};

/** Returns `url` if it is a ws:// or wss:// URL, else a message saying what to use. */
export function urlProblem(url: unknown): string | null {
  if (typeof url !== "string") {
    return `the server URL must be a string like ws://127.0.0.1:1987, not ${String(url)}`;
  }
  const sep = url.indexOf("://");
  if (sep < 0) {
    return (
      `${url} has no scheme: sessiondb speaks JSON over WebSocket, so use ws://${url} ` +
      `(wss://${url} when the server has TLS)`
    );
  }
  const scheme = url.slice(0, sep).toLowerCase();
  if (scheme === "ws" || scheme === "wss") return null;
  const rest = url.slice(sep + 3);
  const instead = SCHEME_INSTEAD[scheme] ?? "ws";
  return (
    `${scheme}:// URLs are not supported: sessiondb speaks JSON over WebSocket, not the ${scheme} ` +
    `protocol; use ${instead}://${rest} instead (ws:// plain, wss:// with TLS; the server's default port is 1987)`
  );
}

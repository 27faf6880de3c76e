/** Status codes and the errors the client throws. */

/** Status names from docs/PROTOCOL.md section 5: every code sessiondb sends and every reserved one. */
export const STATUS_NAMES: Readonly<Record<number, string>> = Object.freeze({
  1: "Ok",
  2: "OpCodeInvalid",
  3: "JsonInvalid",
  4: "PathInvalid",
  5: "NoPath",
  10: "CommandNotExist",
  11: "CommandMultiple",
  12: "CommandType",
  13: "CommandSyntax",
  14: "CommandDisabled",
  22: "NotExist",
  26: "ParamMissing",
  40: "ValueMissing",
  41: "ValueTypeInvalid",
  42: "ValueSize",
  100: "SessionNotExist",
  101: "SessionTokenInvalid",
  102: "SessionOpenFail",
  103: "SessionNewFail",
  120: "SaveStart",
  121: "SaveComplete",
  122: "SaveDirWriteFail",
  123: "SaveError",
  140: "Loading",
  141: "LoadComplete",
  142: "LoadError",
  160: "Duplicate",
  161: "Bounds",
  170: "LimitReached",
  200: "NotAuthenticated",
  201: "AuthFailed",
  1000: "Unknown",
});

/** The success statuses: 1 for every command but saves (121) and loads (141). */
export const Status = Object.freeze({
  OK: 1,
  SESSION_NOT_EXIST: 100,
  SESSION_OPEN_FAIL: 102,
  SESSION_NEW_FAIL: 103,
  SAVE_COMPLETE: 121,
  LOAD_COMPLETE: 141,
  LIMIT_REACHED: 170,
  AUTH_FAILED: 201,
});

// Failures that may go away when the same request is sent again later: save I/O errors, configured
// limits, internal failures. Everything else is decided by the request or the data.
const RETRYABLE = new Set([122, 123, 170, 1000]);

/** The docs/PROTOCOL.md name of a status code, or `"Unrecognised"`. */
export function statusName(status: number): string {
  return Object.hasOwn(STATUS_NAMES, status) ? STATUS_NAMES[status] : "Unrecognised";
}

/**
 * The server answered with a failure status. `status` is the code, `statusName` its name
 * (`"SessionNotExist"`), `reply` the reply's name (`"SH_GET_RSP"` or `"ERR"`), `body` the whole
 * reply body.
 */
export class SessiondbError extends Error {
  /** The status name of docs/PROTOCOL.md, e.g. `"SessionNotExist"`. */
  readonly statusName: string;

  /** Creates the error from a reply's status, name and body. */
  constructor(
    readonly status: number,
    readonly reply: string = "",
    readonly body: Record<string, unknown> = { st: status },
  ) {
    const name = statusName(status);
    const m = body.m;
    super(`${name} (${status})${typeof m === "string" ? `: ${m}` : ""}`);
    this.name = "SessiondbError";
    this.statusName = name;
  }

  /** Whether sending the same request again later may succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.status);
  }
}

/** No usable connection: it could not be opened, or it closed and was not reopened. */
export class DisconnectedError extends Error {
  /** Creates the error; `cause` is the underlying socket error, if any. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DisconnectedError";
  }
}

/**
 * The connection dropped while this request was in flight: it may or may not have run. Thrown for
 * writes (and for reads once their retries are used up); a write is never sent a second time by
 * the client, because running it twice could differ from running it once. The next call
 * reconnects. `command` is the request's command name.
 */
export class ConnectionLostError extends DisconnectedError {
  /** Creates the error for the request `command`. */
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
    this.name = "ConnectionLostError";
  }
}

/**
 * No reply came within the request timeout; the request may or may not have run. The connection
 * is closed (a late reply would otherwise be taken for the next request's) and reopened by the next
 * call.
 */
export class RequestTimeoutError extends DisconnectedError {
  /** Creates the error for the request `command`. */
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
    this.name = "RequestTimeoutError";
  }
}

/** The URL is not a `ws://` or `wss://` URL; the message says what to use instead. */
export class InvalidURLError extends TypeError {
  /** Creates the error with the advice in `message`. */
  constructor(message: string) {
    super(message);
    this.name = "InvalidURLError";
  }
}

/** The server sent something that is not a well-formed reply. */
export class ProtocolError extends Error {
  /** Creates the error describing what was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

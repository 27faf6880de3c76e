/**
 * Client for sessiondb, the session database speaking NemesisDB's JSON-over-WebSocket protocol.
 *
 * `Client` pipelines every request on one connection; its methods are the protocol's commands in
 * camel case (`shNew`, `shSet`, `kvGet`, `svInfo`...). Tokens are `bigint`. A failure status
 * rejects with `SessiondbError` carrying `status` and `statusName`. The express-session store is
 * in `sessiondb/express-session`.
 */

export { Client, DEFAULT_TIMEOUT, DEFAULT_URL } from "./client.js";
export type { ClientOptions, NewSessionOptions } from "./client.js";
export type { Token } from "./commands.js";
export {
  ConnectionLostError,
  DisconnectedError,
  InvalidURLError,
  ProtocolError,
  RequestTimeoutError,
  SessiondbError,
  STATUS_NAMES,
  Status,
  statusName,
} from "./errors.js";
export { JsonSyntaxError, parseJson, stringifyJson } from "./json.js";
export type { JsonValue } from "./json.js";
export { sharedToken } from "./shared-token.js";

/** The client: one pipelined WebSocket connection, request timeouts, reconnection with backoff. */

import net from "node:net";
import tls from "node:tls";
import WebSocket from "ws";
import {
  type Call,
  type ReplyBody,
  type Token,
  call,
  finish,
  keyList,
  keysObject,
  member,
  parseReply,
  requestText,
  token,
  tokenOf,
  urlProblem,
  withoutSt,
} from "./commands.js";
import {
  ConnectionLostError,
  DisconnectedError,
  InvalidURLError,
  ProtocolError,
  RequestTimeoutError,
  Status,
} from "./errors.js";
import { type JsonValue, parseJson, stringifyJson } from "./json.js";

/** The URL of a server on this machine with the default port. */
export const DEFAULT_URL = "ws://127.0.0.1:1987";
/** Milliseconds a request waits for its reply before RequestTimeoutError. */
export const DEFAULT_TIMEOUT = 10_000;

/** Options of {@link Client}; times are in milliseconds. */
export interface ClientOptions {
  /** How long each request waits for its reply (default 10 000; 0: forever). */
  timeout?: number;
  /** How long opening a connection may take (default 10 000). */
  openTimeout?: number;
  /** Reopen a dropped connection on the next request (default true). */
  reconnect?: boolean;
  /** Attempts to reopen a connection before DisconnectedError (default 5). */
  reconnectTries?: number;
  /** First pause between reconnection attempts (default 50), doubled up to `maxBackoff`. */
  backoff?: number;
  /** Longest pause between reconnection attempts (default 2000). */
  maxBackoff?: number;
  /** How many times a read cut off by a dropped connection is sent again (default 2). */
  readRetries?: number;
  /** A secret sent as `Authorization: Bearer` at every connect (docs/PROTOCOL.md 2.6). */
  secret?: string;
  /** For wss://: the certificates to trust (`ca`), a client certificate, or the server name. */
  tls?: Pick<tls.ConnectionOptions, "ca" | "cert" | "key" | "servername" | "rejectUnauthorized">;
}

/** Expiry settings of {@link Client.shNew}. */
export interface NewSessionOptions {
  /** Seconds until the session expires (absent or 0: never). */
  expiry?: number;
  /** At the deadline delete the session, not only its keys (needs `expiry`). */
  deleteSession?: boolean;
  /** `shSet` and `shAdd` re-arm the deadline (needs `expiry`). */
  extendOnSetAdd?: boolean;
  /** `shGet` re-arms the deadline (needs `expiry`). */
  extendOnGet?: boolean;
  /** A label; required for a shared session, whose token derives from it. */
  name?: string;
  /** Make it a shared session, found by name with `shOpen`. */
  shared?: boolean;
}

interface Pending {
  readonly command: string;
  readonly text: string;
  readonly idempotent: boolean;
  retriesLeft: number;
  settled: boolean;
  timer?: NodeJS.Timeout;
  resolve(text: string): void;
  reject(error: Error): void;
}

/**
 * A connection to a sessiondb server; one method per command (`shNew`, `kvGet`, ...), each
 * returning a promise. Requests made without awaiting the previous ones are pipelined on the one
 * socket, and replies are matched to them in order (docs/PROTOCOL.md 2.4).
 *
 * The connection opens with the first request (or {@link Client.connect}). When it drops, the next
 * request opens a new one, with exponential backoff and jitter. A request in flight when the
 * connection drops may or may not have run: reads are sent again on the new connection (up to
 * `readRetries` times); writes reject with ConnectionLostError and are never sent twice.
 */
export class Client {
  /** The server URL. */
  readonly url: string;
  /** How many times a new connection replaced a dropped one. */
  reconnects = 0;

  private readonly options: Required<Omit<ClientOptions, "secret" | "tls">> & Pick<ClientOptions, "secret" | "tls">;
  private ws: WebSocket | null = null;
  // The TCP (or TLS) socket under `ws`, corked while a tick's requests are written.
  private socket: net.Socket | null = null;
  private corked = false;
  private opening: Promise<void> | null = null;
  private everConnected = false;
  private closed = false;
  private authSecret: string | null = null;
  // Sent and awaiting replies, in send order; and not yet sent, waiting for a connection.
  private inFlight: Pending[] = [];
  private waiting: Pending[] = [];

  /** Creates a client for `url` (`ws://host:port` or `wss://...`); nothing is opened yet. */
  constructor(url: string = DEFAULT_URL, options: ClientOptions = {}) {
    const problem = urlProblem(url);
    if (problem !== null) throw new InvalidURLError(problem);
    this.url = url;
    this.options = {
      timeout: options.timeout ?? DEFAULT_TIMEOUT,
      openTimeout: options.openTimeout ?? 10_000,
      reconnect: options.reconnect ?? true,
      reconnectTries: options.reconnectTries ?? 5,
      backoff: options.backoff ?? 50,
      maxBackoff: options.maxBackoff ?? 2000,
      readRetries: options.readRetries ?? 2,
      secret: options.secret,
      tls: options.tls,
    };
  }

  /** Creates a client and opens its connection; rejects with DisconnectedError if that fails. */
  static async connect(url: string = DEFAULT_URL, options: ClientOptions = {}): Promise<Client> {
    const client = new Client(url, options);
    await client.ensureOpen();
    return client;
  }

  /** Whether the connection is open (it may still drop before the next request). */
  get connected(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes the connection; later requests reject with DisconnectedError. */
  close(): void {
    this.closed = true;
    const ws = this.ws;
    this.ws = null;
    this.failAll(this.waiting.splice(0), () => new DisconnectedError(`client for ${this.url} is closed`));
    ws?.close(1000);
  }

  /** Sends one raw request and resolves to the reply text. Raw requests count as writes. */
  requestText(text: string): Promise<string> {
    return this.send("raw", text, false);
  }

  /** Sends a request given as an object and resolves to the whole reply, whatever its status. */
  async request(request: Record<string, unknown>): Promise<Record<string, JsonValue>> {
    return parseJson(await this.requestText(stringifyJson(request))) as Record<string, JsonValue>;
  }

  /** Runs one command: sends it, checks its status and returns its result. */
  async execute<T>(c: Call<T>): Promise<T> {
    const reply = await this.send(c.command, requestText(c), c.idempotent);
    const result = finish(c, reply);
    if (c.command === "SV_AUTH") {
      // Authentication belongs to the connection: remember it for the next ones.
      this.authSecret = c.body.secret as string;
    }
    return result;
  }

  // ----- top-level keys (docs/PROTOCOL.md section 10) -----

  /** Sets top-level keys, overwriting existing ones. */
  kvSet(keys: Record<string, unknown>): Promise<void> {
    return this.execute(call("KV_SET", { keys: keysObject(keys) }));
  }

  /** Adds top-level keys that do not exist yet; existing keys keep their values. */
  kvAdd(keys: Record<string, unknown>): Promise<void> {
    return this.execute(call("KV_ADD", { keys: keysObject(keys) }));
  }

  /** Resolves to an object of the listed top-level keys that exist. */
  kvGet(keys: Iterable<string> | string): Promise<Record<string, JsonValue>> {
    return this.execute(call("KV_GET", { keys: keyList(keys) }, member("keys"), { idempotent: true }));
  }

  /** Removes top-level keys; `keys` must not be empty (status 42). */
  kvRmv(keys: Iterable<string> | string): Promise<void> {
    return this.execute(call("KV_RMV", { keys: keyList(keys) }));
  }

  /** Resolves to the listed top-level keys that exist, in request order. */
  kvContains(keys: Iterable<string> | string): Promise<string[]> {
    return this.execute(call("KV_CONTAINS", { keys: keyList(keys) }, member("contains"), { idempotent: true }));
  }

  /** Number of top-level keys. */
  kvCount(): Promise<number> {
    return this.execute(call("KV_COUNT", {}, member("cnt"), { idempotent: true }));
  }

  /** Every top-level key, in no particular order. */
  kvKeys(): Promise<string[]> {
    return this.execute(call("KV_KEYS", {}, member("keys"), { idempotent: true }));
  }

  /** Deletes every top-level key; resolves to how many were deleted. */
  kvClear(): Promise<number> {
    return this.execute(call("KV_CLEAR", {}, member("cnt")));
  }

  /** Replaces the top-level store with `keys`; resolves to how many keys were deleted. */
  kvClearSet(keys: Record<string, unknown>): Promise<number> {
    return this.execute(call("KV_CLEAR_SET", { keys: keysObject(keys) }, member("cnt")));
  }

  /** Saves the top-level store as dataset `name`; resolves to `{name, duration}`. */
  kvSave(name: string): Promise<Record<string, JsonValue>> {
    return this.execute(call("KV_SAVE", { name }, withoutSt, { success: Status.SAVE_COMPLETE }));
  }

  /** Loads dataset `name` into the top-level store; resolves to the reply without `st`. */
  kvLoad(name: string): Promise<Record<string, JsonValue>> {
    return this.execute(call("KV_LOAD", { name }, withoutSt, { success: Status.LOAD_COMPLETE }));
  }

  // ----- sessions (docs/PROTOCOL.md section 11) -----

  /** Creates a session and resolves to its token. */
  shNew(options: NewSessionOptions = {}): Promise<bigint> {
    return this.execute(call("SH_NEW", newSessionBody(options), (b) => tokenOf(b.tkn)));
  }

  /** Resolves to the token of the live shared session `name` (status 102 if none). */
  shOpen(name: string): Promise<bigint> {
    return this.execute(call("SH_OPEN", { name }, (b) => tokenOf(b.tkn), { idempotent: true }));
  }

  /** Sets keys in a session, overwriting existing ones. */
  shSet(tkn: Token, keys: Record<string, unknown>): Promise<void> {
    return this.execute(call("SH_SET", { tkn: token(tkn), keys: keysObject(keys) }));
  }

  /** Adds keys that do not exist yet in a session. */
  shAdd(tkn: Token, keys: Record<string, unknown>): Promise<void> {
    return this.execute(call("SH_ADD", { tkn: token(tkn), keys: keysObject(keys) }));
  }

  /** Resolves to an object of the listed keys that exist in a session. */
  shGet(tkn: Token, keys: Iterable<string> | string): Promise<Record<string, JsonValue>> {
    return this.execute(call("SH_GET", { tkn: token(tkn), keys: keyList(keys) }, member("keys"), { idempotent: true }));
  }

  /** Removes keys from a session; `keys` must not be empty (status 42). */
  shRmv(tkn: Token, keys: Iterable<string> | string): Promise<void> {
    return this.execute(call("SH_RMV", { tkn: token(tkn), keys: keyList(keys) }));
  }

  /** Resolves to the listed keys that exist in a session, in request order. */
  shContains(tkn: Token, keys: Iterable<string> | string): Promise<string[]> {
    const body = { tkn: token(tkn), keys: keyList(keys) };
    return this.execute(call("SH_CONTAINS", body, member("contains"), { idempotent: true }));
  }

  /** Number of keys in a session. */
  shCount(tkn: Token): Promise<number> {
    return this.execute(call("SH_COUNT", { tkn: token(tkn) }, member("cnt"), { idempotent: true }));
  }

  /** Every key of a session, in no particular order. */
  shKeys(tkn: Token): Promise<string[]> {
    return this.execute(call("SH_KEYS", { tkn: token(tkn) }, member("keys"), { idempotent: true }));
  }

  /** Deletes a session's keys (the session stays); resolves to how many were deleted. */
  shClear(tkn: Token): Promise<number> {
    return this.execute(call("SH_CLEAR", { tkn: token(tkn) }, member("cnt")));
  }

  /** Replaces a session's keys with `keys`; resolves to how many keys were deleted. */
  shClearSet(tkn: Token, keys: Record<string, unknown>): Promise<number> {
    return this.execute(call("SH_CLEAR_SET", { tkn: token(tkn), keys: keysObject(keys) }, member("cnt")));
  }

  /** Describes a session: the reply without `st` (tkn, shared, keyCnt, expires, expiry...). */
  shInfo(tkn: Token): Promise<Record<string, JsonValue>> {
    return this.execute(call("SH_INFO", { tkn: token(tkn) }, withoutSt, { idempotent: true }));
  }

  /** Resolves to `{totalSessions, totalKeys}`. */
  shInfoAll(): Promise<Record<string, JsonValue>> {
    return this.execute(call("SH_INFO_ALL", {}, withoutSt, { idempotent: true }));
  }

  /** Resolves to the tokens that name live sessions, in request order. */
  shExists(tkns: Iterable<Token>): Promise<bigint[]> {
    const body = { tkns: Array.from(tkns, token) };
    return this.execute(
      call("SH_EXISTS", body, (b) => (b.exist as JsonValue[]).map(tokenOf), { idempotent: true }),
    );
  }

  /** Deletes a session and its keys. */
  shEnd(tkn: Token): Promise<void> {
    return this.execute(call("SH_END", { tkn: token(tkn) }));
  }

  /** Deletes every session; resolves to how many were deleted. */
  shEndAll(): Promise<number> {
    return this.execute(call("SH_END_ALL", {}, member("cnt")));
  }

  /** Saves all live sessions, or those in `tkns`, as dataset `name`. */
  shSave(name: string, tkns?: Iterable<Token>): Promise<Record<string, JsonValue>> {
    const body: Record<string, unknown> = { name };
    if (tkns !== undefined) body.tkns = Array.from(tkns, token);
    return this.execute(call("SH_SAVE", body, withoutSt, { success: Status.SAVE_COMPLETE }));
  }

  /** Restores the sessions of dataset `name`; resolves to `{name, sessions, keys}`. */
  shLoad(name: string): Promise<Record<string, JsonValue>> {
    return this.execute(call("SH_LOAD", { name }, withoutSt, { success: Status.LOAD_COMPLETE }));
  }

  /**
   * Re-arms session `tkn`'s deadline to now + its duration, if its settings allow: no command
   * changes an existing session's expiry, but an empty `shGet` re-arms one with `extendOnGet` and
   * an empty `shSet` one with `extendOnSetAdd`, changing no key. Resolves to whether it was
   * re-armed (false for a session that never expires or has neither flag).
   */
  async shTouch(tkn: Token): Promise<boolean> {
    const info = await this.shInfo(tkn);
    const expiry = info.expires === true ? (info.expiry as Record<string, JsonValue> | undefined) : undefined;
    if (expiry?.extendOnGet === true) {
      await this.execute(call("SH_GET", { tkn: token(tkn), keys: [] }, () => undefined, { idempotent: true }));
    } else if (expiry?.extendOnSetAdd === true) {
      await this.execute(call("SH_SET", { tkn: token(tkn), keys: {} }, () => undefined, { idempotent: true }));
    } else {
      return false;
    }
    return true;
  }

  // ----- server (docs/PROTOCOL.md sections 12 and 2.6) -----

  /** Describes the server: the reply without `st` (serverVersion, persistEnabled, ...). */
  svInfo(): Promise<Record<string, JsonValue>> {
    return this.execute(call("SV_INFO", {}, withoutSt, { idempotent: true }));
  }

  /** Authenticates this connection, and every later one (status 201 for a wrong secret). */
  svAuth(secret: string): Promise<void> {
    return this.execute(call("SV_AUTH", { secret }));
  }

  // ----- the connection -----

  private send(command: string, text: string, idempotent: boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        command,
        text,
        idempotent,
        retriesLeft: idempotent ? this.options.readRetries : 0,
        settled: false,
        resolve,
        reject,
      };
      if (this.options.timeout > 0) {
        pending.timer = setTimeout(() => this.timedOut(pending), this.options.timeout);
      }
      this.dispatch(pending);
    });
  }

  private dispatch(pending: Pending): void {
    if (this.closed) {
      this.settle(pending, new DisconnectedError(`client for ${this.url} is closed`));
      return;
    }
    const ws = this.ws;
    if (ws !== null && ws.readyState === WebSocket.OPEN && this.opening === null) {
      this.inFlight.push(pending);
      this.cork();
      ws.send(pending.text);
      return;
    }
    this.waiting.push(pending);
    this.ensureOpen().catch(() => {
      // ensureOpen has already rejected every waiting request with the reason.
    });
  }

  /**
   * Holds the socket's writes until the end of this tick, so that the requests made together (a
   * store's save, the handlers of many HTTP requests) leave in one write and reach the server as
   * one read, as a Redis client's auto-pipelining does.
   */
  private cork(): void {
    const socket = this.socket;
    if (this.corked || socket === null) return;
    this.corked = true;
    socket.cork();
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  private ensureOpen(): Promise<void> {
    if (this.connected && this.opening === null) return Promise.resolve();
    if (this.opening === null) {
      this.opening = this.openWithBackoff().then(
        () => {
          this.opening = null;
          if (this.closed) {
            // close() was called while this connection was being opened.
            this.ws?.close(1000);
            this.ws = null;
          }
          for (const p of this.waiting.splice(0)) this.dispatch(p);
        },
        (error: Error) => {
          this.opening = null;
          this.failAll(this.waiting.splice(0), () => error);
          throw error;
        },
      );
    }
    return this.opening;
  }

  private async openWithBackoff(): Promise<void> {
    if (this.closed) throw new DisconnectedError(`client for ${this.url} is closed`);
    // The first connection is tried once, so a wrong URL fails at once; later ones reconnect.
    if (!this.everConnected) {
      await this.openOnce();
      this.everConnected = true;
      return;
    }
    if (!this.options.reconnect) {
      throw new DisconnectedError(`connection to ${this.url} closed (reconnect is off)`);
    }
    let delay = this.options.backoff;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.openOnce();
        this.reconnects++;
        return;
      } catch (error) {
        if (attempt >= this.options.reconnectTries || this.closed) throw error;
      }
      // Jitter keeps many clients from hammering a restarting server in step.
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
      delay = Math.min(delay * 2, this.options.maxBackoff);
    }
  }

  private openOnce(): Promise<void> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (this.options.secret !== undefined) headers.Authorization = `Bearer ${this.options.secret}`;
      let socket: net.Socket | null = null;
      const secure = this.url.slice(0, 4).toLowerCase() === "wss:";
      // Replies have no size limit (docs/PROTOCOL.md 2.3), so incoming messages are not capped.
      const ws = new WebSocket(this.url, {
        ...this.options.tls,
        headers,
        handshakeTimeout: this.options.openTimeout,
        maxPayload: 0,
        perMessageDeflate: false,
        // The socket is made here, as ws would make it, only to keep a handle for cork().
        createConnection: (options: net.NetConnectOpts & tls.ConnectionOptions) => {
          socket = secure ? tlsConnect(options) : netConnect(options);
          return socket;
        },
      } as WebSocket.ClientOptions);
      const fail = (error: Error) => {
        ws.removeAllListeners();
        ws.on("error", () => {});
        ws.terminate();
        reject(new DisconnectedError(`cannot connect to ${this.url}: ${error.message}`, { cause: error }));
      };
      ws.once("error", fail);
      ws.once("unexpected-response", (_req, res) => fail(new Error(`HTTP ${res.statusCode} ${res.statusMessage}`)));
      ws.once("open", () => {
        ws.removeAllListeners();
        this.adopt(ws, socket);
        if (this.authSecret === null) {
          resolve();
          return;
        }
        this.reauthenticate(ws).then(resolve, (error: Error) => {
          ws.terminate();
          reject(error);
        });
      });
    });
  }

  private adopt(ws: WebSocket, socket: net.Socket | null): void {
    this.ws = ws;
    this.socket = socket;
    this.corked = false;
    ws.on("message", (data, isBinary) => this.received(ws, data as Buffer, isBinary));
    ws.on("close", () => this.dropped(ws));
    // The close event that follows an error does the work.
    ws.on("error", () => {});
  }

  private reauthenticate(ws: WebSocket): Promise<void> {
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        command: "SV_AUTH",
        text: stringifyJson({ SV_AUTH: { secret: this.authSecret } }),
        idempotent: false,
        retriesLeft: 0,
        settled: false,
        resolve: (text) => {
          const [, body] = parseReply(text);
          if (body.st === Status.OK) resolve();
          else reject(new DisconnectedError(`${this.url} refused the secret on reconnect (st ${body.st})`));
        },
        reject: (e) => reject(new DisconnectedError(`connection to ${this.url} dropped while authenticating: ${e.message}`)),
      };
      // A server that never answers must not leave the connection opening forever.
      pending.timer = setTimeout(() => ws.terminate(), this.options.openTimeout);
      this.inFlight.push(pending);
      ws.send(pending.text);
    });
  }

  private received(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (ws !== this.ws) return;
    const pending = this.inFlight.shift();
    if (pending === undefined) {
      // A reply nobody asked for means replies and requests are no longer in step.
      this.ws = null;
      ws.terminate();
      return;
    }
    const text = data.toString("utf8");
    if (isBinary) {
      this.settle(pending, new ProtocolError(`binary reply to ${pending.command}`));
      return;
    }
    if (pending.settled) return;
    pending.settled = true;
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    try {
      pending.resolve(text);
    } catch (error) {
      // Only the re-authentication's handler reads the reply here, and it may find it malformed.
      pending.reject(error as Error);
    }
  }

  private dropped(ws: WebSocket): void {
    if (this.ws === ws) {
      this.ws = null;
      this.socket = null;
    }
    const cutOff = this.inFlight.splice(0);
    const again: Pending[] = [];
    for (const pending of cutOff) {
      if (pending.settled) continue;
      if (pending.retriesLeft > 0 && this.options.reconnect && !this.closed) {
        pending.retriesLeft--;
        again.push(pending);
        continue;
      }
      const what = pending.idempotent
        ? "it may or may not have run; retries used up"
        : "it was not sent again: it changes data and may already have run";
      this.settle(
        pending,
        new ConnectionLostError(`connection to ${this.url} dropped before the reply to ${pending.command}; ${what}`, pending.command),
      );
    }
    if (again.length > 0) {
      // Reads cut off go first: they were asked for before anything still waiting.
      this.waiting.unshift(...again);
      this.ensureOpen().catch(() => {});
    }
  }

  private timedOut(pending: Pending): void {
    if (pending.settled) return;
    const message = `no reply to ${pending.command} from ${this.url} within ${this.options.timeout} ms; it may or may not have run`;
    const waitingAt = this.waiting.indexOf(pending);
    if (waitingAt >= 0) this.waiting.splice(waitingAt, 1);
    this.settle(pending, new RequestTimeoutError(message, pending.command));
    if (waitingAt < 0 && this.ws !== null) {
      // A late reply would be taken for the next request's: this connection is done.
      this.ws.terminate();
    }
  }

  private settle(pending: Pending, error: Error): void {
    if (pending.settled) return;
    pending.settled = true;
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    pending.reject(error);
  }

  private failAll(pendings: Pending[], error: () => Error): void {
    for (const pending of pendings) this.settle(pending, error());
  }
}

/**
 * A TCP connection for ws://. The options are an HTTP request's, whose `path` is the URL's path,
 * not a Unix socket: ws connects to `socketPath` (set only for ws+unix: URLs), and so does this.
 */
function netConnect(options: net.NetConnectOpts & { socketPath?: string }): net.Socket {
  return net.connect({ ...options, path: options.socketPath } as net.NetConnectOpts);
}

/** A TLS connection for wss://, with the server name ws itself would give it. */
function tlsConnect(options: tls.ConnectionOptions & { host?: string }): tls.TLSSocket {
  const host = options.host ?? "";
  return tls.connect({ ...options, path: undefined, servername: options.servername ?? (net.isIP(host) ? "" : host) });
}

/** The `SH_NEW` body for `options`; throws for expiry flags without an expiry. */
function newSessionBody(options: NewSessionOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const { expiry, deleteSession = false, extendOnSetAdd = false, extendOnGet = false } = options;
  if (expiry !== undefined) {
    if (!Number.isSafeInteger(expiry) || expiry < 0) {
      throw new TypeError(`expiry is whole seconds (a non-negative integer), not ${expiry}`);
    }
    body.expiry = { duration: expiry, deleteSession, extendOnSetAdd, extendOnGet };
  } else if (deleteSession || extendOnSetAdd || extendOnGet) {
    throw new TypeError("expiry flags need an expiry duration");
  }
  if (options.name !== undefined) body.name = options.name;
  if (options.shared === true) body.shared = true;
  return body;
}



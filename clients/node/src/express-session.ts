/**
 * A session store for express-session, keeping each express session in a sessiondb session.
 *
 * Mapping: express's session id `sid` names a **shared** sessiondb session `prefix + sid`, whose
 * token is derived from that name (docs/PROTOCOL.md 8.3). The store computes the token itself, so
 * every `get`, `set`, `touch` and `destroy` is one round trip, and any number of app processes
 * find the same session. The session data is one key, `sess`, holding express's session object
 * as JSON. The session expires with `deleteSession` after `cookie.maxAge` (whole seconds, rounded
 * up; `ttl` when the cookie has no maxAge) and `extendOnSetAdd`, so every save or touch re-arms it.
 *
 * `all`, `length` and `clear` need the list of sessions, which the protocol has no command for:
 * the store keeps an index, the shared session `prefix + "\u0000index"` (never expiring), with one
 * key per sid; sids whose session has expired are pruned from it whenever it is read.
 */

import session from "express-session";
import { Client, type ClientOptions } from "./client.js";
import { SessiondbError, Status } from "./errors.js";
import type { JsonValue } from "./json.js";
import { sharedToken } from "./shared-token.js";

/** Options of {@link SessiondbStore}. */
export interface SessiondbStoreOptions {
  /** The client to use; by default one is made from `url` and `clientOptions`. */
  client?: Client;
  /** The server URL when no `client` is given (default ws://127.0.0.1:1987). */
  url?: string;
  /** Options of the client made from `url`. */
  clientOptions?: ClientOptions;
  /** Prefix of the sessiondb session names (default `"sess:"`). */
  prefix?: string;
  /** Seconds a session lives when its cookie has no maxAge (default 86 400, one day). */
  ttl?: number;
  /** Leave `touch` out, so express-session re-saves instead (default false). */
  disableTouch?: boolean;
  /**
   * Prune expired sids from the index after this many new sessions, or after as many as were live
   * at the last pruning if that is more (default 1000).
   */
  pruneEvery?: number;
}

type Callback<T = void> = (err?: unknown, result?: T) => void;
type SessionData = session.SessionData;

const ONE_DAY = 86_400;
// A session whose duration is off by this much from the cookie's remaining life is recreated;
// smaller differences are the rounding of maxAge to seconds and the time a request took.
const DURATION_SLACK = 1;
// How many sessions a store remembers having saved (a few hundred kilobytes at most).
const KNOWN_SESSIONS = 10_000;

/** An express-session store on sessiondb; see the module comment for how sessions are mapped. */
export class SessiondbStore extends session.Store {
  /** The client the store talks through. */
  readonly client: Client;
  /** Prefix of the sessiondb session names. */
  readonly prefix: string;
  private readonly ttl: number;
  private readonly indexName: string;
  private readonly indexToken: bigint;
  private readonly pruneEvery: number;
  private pruneAfter: number;
  private createdSincePrune = 0;
  private pruning = false;
  // Sessions this process saved lately, with each one's duration: saving one again with the same
  // lifetime is then a lone SH_SET, as a save is for a Redis store.
  private readonly known = new Map<string, number>();

  /** Creates the store; nothing is sent until express-session asks for a session. */
  constructor(options: SessiondbStoreOptions = {}) {
    super();
    this.client = options.client ?? new Client(options.url, options.clientOptions);
    this.prefix = options.prefix ?? "sess:";
    this.ttl = options.ttl ?? ONE_DAY;
    this.indexName = `${this.prefix}\u0000index`;
    this.indexToken = sharedToken(this.indexName);
    this.pruneEvery = options.pruneEvery ?? 1000;
    this.pruneAfter = this.pruneEvery;
    if (options.disableTouch === true) {
      // express-session checks for the method itself.
      (this as { touch?: unknown }).touch = undefined;
    }
  }

  /** The sessiondb token of the express session `sid`. */
  tokenOf(sid: string): bigint {
    return sharedToken(this.prefix + sid);
  }

  /** Reads session `sid`; null when it does not exist or its cookie has expired. */
  override get(sid: string, callback: Callback<SessionData | null>): void {
    settle(this.read(sid), callback);
  }

  /** Saves session `sid`, creating it if needed, and re-arms its expiry. */
  override set(sid: string, sess: SessionData, callback?: Callback): void {
    settle(this.write(sid, sess), callback);
  }

  /** Deletes session `sid`. */
  override destroy(sid: string, callback?: Callback): void {
    settle(this.remove(sid), callback);
  }

  /** Re-arms session `sid`'s expiry without rewriting it. */
  override touch(sid: string, _sess: SessionData, callback?: Callback): void {
    const rearm = this.client.shSet(this.tokenOf(sid), {}).catch(ignoreStatus(Status.SESSION_NOT_EXIST));
    settle(rearm, callback);
  }

  /** Every live session, as an object keyed by sid. */
  override all(callback: Callback<{ [sid: string]: SessionData }>): void {
    settle(this.readAll(), callback);
  }

  /** The number of live sessions. */
  override length(callback: Callback<number>): void {
    settle(
      this.liveSids().then((sids) => sids.length),
      callback,
    );
  }

  /** Deletes every session of this store (those named with its prefix), and nothing else. */
  override clear(callback?: Callback): void {
    settle(this.removeAll(), callback);
  }

  private async read(sid: string): Promise<SessionData | null> {
    let keys: Record<string, JsonValue>;
    try {
      keys = await this.client.shGet(this.tokenOf(sid), ["sess"]);
    } catch (error) {
      if (isStatus(error, Status.SESSION_NOT_EXIST)) {
        this.known.delete(sid);
        return null;
      }
      throw error;
    }
    const sess = keys.sess;
    if (sess === undefined || sess === null || typeof sess !== "object") return null;
    const data = asNumbers(sess) as unknown as SessionData;
    // The session may outlive its cookie by the slack above; it must not be seen then.
    if (cookieExpired(data)) {
      await this.remove(sid);
      return null;
    }
    return data;
  }

  private async write(sid: string, sess: SessionData): Promise<void> {
    const ttl = this.ttlOf(sess);
    if (ttl <= 0) {
      await this.remove(sid);
      return;
    }
    const tkn = this.tokenOf(sid);
    const known = this.known.get(sid);
    if (known !== undefined && Math.abs(known - ttl) <= DURATION_SLACK) {
      try {
        await this.client.shSet(tkn, { sess });
        return;
      } catch (error) {
        // Ended or expired since this process last saved it: make it again below.
        if (!isStatus(error, Status.SESSION_NOT_EXIST)) throw error;
      }
    }
    this.remember(sid, await this.writeFully(sid, tkn, sess, ttl));
  }

  /**
   * Creates the session if needed, saves it, indexes it, and recreates it if its duration is not
   * the cookie's; resolves to the session's duration.
   */
  private async writeFully(sid: string, tkn: bigint, sess: SessionData, ttl: number): Promise<number> {
    // All four go out at once and come back in one round trip.
    const [created, info, saved, indexed] = await Promise.allSettled([
      this.create(sid, ttl),
      this.client.shInfo(tkn),
      this.client.shSet(tkn, { sess }),
      this.client.shAdd(this.indexToken, { [sid]: 1 }),
    ]);
    for (const outcome of [created, info, saved]) {
      if (outcome.status === "rejected") throw outcome.reason;
    }
    if (indexed.status === "rejected") await this.indexAgain(sid, indexed.reason);
    const expiry = (info as PromiseFulfilledResult<Record<string, JsonValue>>).value.expiry as
      | Record<string, JsonValue>
      | undefined;
    const duration = Number(expiry?.duration ?? 0);
    if (Math.abs(duration - ttl) <= DURATION_SLACK) return duration;
    // The cookie's lifetime changed (say, "remember me"), and a session's duration is fixed when
    // it is created: make it again with the new one.
    await Promise.all([
      this.client.shEnd(tkn).catch(ignoreStatus(Status.SESSION_NOT_EXIST)),
      this.create(sid, ttl),
      this.client.shSet(tkn, { sess }),
    ]);
    return ttl;
  }

  /** Notes that session `sid` exists with `duration`, forgetting the oldest beyond the bound. */
  private remember(sid: string, duration: number): void {
    this.known.delete(sid);
    this.known.set(sid, duration);
    if (this.known.size > KNOWN_SESSIONS) {
      const oldest = this.known.keys().next();
      if (oldest.done !== true) this.known.delete(oldest.value);
    }
  }

  private create(sid: string, ttl: number): Promise<unknown> {
    const session = this.client.shNew({
      name: this.prefix + sid,
      shared: true,
      expiry: ttl,
      deleteSession: true,
      extendOnSetAdd: true,
    });
    return session.then(
      () => this.created(),
      ignoreStatus(Status.SESSION_NEW_FAIL),
    );
  }

  /** Adds `sid` to the index after the index was found missing (never made, or ended by someone). */
  private async indexAgain(sid: string, reason: unknown): Promise<void> {
    if (isStatus(reason, Status.LIMIT_REACHED)) {
      // The server's --max-keys-per-session or --max-memory: the session itself is saved, and
      // only all/length/clear will not see it; a login must not fail for the index's sake.
      this.report(reason);
      return;
    }
    if (!isStatus(reason, Status.SESSION_NOT_EXIST)) throw reason;
    await this.client
      .shNew({ name: this.indexName, shared: true })
      .catch(ignoreStatus(Status.SESSION_NEW_FAIL));
    await this.client.shAdd(this.indexToken, { [sid]: 1 });
  }

  private async remove(sid: string): Promise<void> {
    this.known.delete(sid);
    await Promise.all([
      this.client.shEnd(this.tokenOf(sid)).catch(ignoreStatus(Status.SESSION_NOT_EXIST)),
      this.client.shRmv(this.indexToken, [sid]).catch(ignoreStatus(Status.SESSION_NOT_EXIST)),
    ]);
  }

  private async indexedSids(): Promise<string[]> {
    return this.client.shKeys(this.indexToken).catch((error: unknown) => {
      if (isStatus(error, Status.SESSION_NOT_EXIST)) return [];
      throw error;
    });
  }

  /** The sids whose session is live; the others are pruned from the index. */
  private async liveSids(): Promise<string[]> {
    const sids = await this.indexedSids();
    if (sids.length === 0) return [];
    const tokens = sids.map((sid) => this.tokenOf(sid));
    const live = new Set(await this.client.shExists(tokens));
    const alive = sids.filter((_, i) => live.has(tokens[i]));
    await this.prune(sids.filter((_, i) => !live.has(tokens[i])));
    // Pruning again only after as many new sessions as are live keeps its cost per new session
    // constant, however many sessions there are.
    this.createdSincePrune = 0;
    this.pruneAfter = Math.max(this.pruneEvery, alive.length);
    return alive;
  }

  /** Emits `error` for a failure no request waits for, when someone listens (else it would throw). */
  private report(error: unknown): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  /** Counts a session this store created, and prunes the index when enough have been. */
  private created(): void {
    this.createdSincePrune++;
    if (this.createdSincePrune < this.pruneAfter || this.pruning) return;
    this.pruning = true;
    this.liveSids()
      .catch((error: unknown) => this.report(error))
      .finally(() => {
        this.pruning = false;
      });
  }

  private async prune(dead: string[]): Promise<void> {
    if (dead.length === 0) return;
    await this.client.shRmv(this.indexToken, dead).catch(ignoreStatus(Status.SESSION_NOT_EXIST));
  }

  private async readAll(): Promise<{ [sid: string]: SessionData }> {
    const sids = await this.indexedSids();
    const sessions = await Promise.all(sids.map((sid) => this.read(sid)));
    const out: { [sid: string]: SessionData } = {};
    const dead: string[] = [];
    sids.forEach((sid, i) => {
      const sess = sessions[i];
      if (sess === null) dead.push(sid);
      else out[sid] = sess;
    });
    await this.prune(dead);
    return out;
  }

  private async removeAll(): Promise<void> {
    this.known.clear();
    const sids = await this.indexedSids();
    await Promise.all(
      sids.map((sid) => this.client.shEnd(this.tokenOf(sid)).catch(ignoreStatus(Status.SESSION_NOT_EXIST))),
    );
    await this.client.shClear(this.indexToken).catch(ignoreStatus(Status.SESSION_NOT_EXIST));
  }

  /** Whole seconds the session has left: its cookie's maxAge rounded up, else the store's ttl. */
  private ttlOf(sess: SessionData): number {
    const maxAge = sess.cookie?.maxAge;
    if (typeof maxAge === "number") return Math.ceil(maxAge / 1000);
    return this.ttl;
  }
}

function settle<T>(work: Promise<T>, callback: Callback<T> | undefined): void {
  work.then(
    (result) => callback?.(null, result),
    (error: unknown) => callback?.(error),
  );
}

function isStatus(error: unknown, status: number): boolean {
  return error instanceof SessiondbError && error.status === status;
}

/** A rejection handler that swallows SessiondbError `status` (an expected outcome) and rethrows the rest. */
function ignoreStatus(status: number): (error: unknown) => void {
  return (error) => {
    if (!isStatus(error, status)) throw error;
  };
}

function cookieExpired(sess: SessionData): boolean {
  const expires = (sess.cookie as { expires?: unknown } | undefined)?.expires;
  if (typeof expires !== "string") return false;
  const at = Date.parse(expires);
  return !Number.isNaN(at) && at <= Date.now();
}

/**
 * The value as `JSON.parse` would have produced it: the data came from JSON.stringify, where a big
 * integer was a `number`, so it goes back as one rather than as the client's exact `bigint`.
 */
function asNumbers(value: JsonValue): JsonValue {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(asNumbers);
  if (value !== null && typeof value === "object") {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: asNumbers(v), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

// The client's commands against the real server: results, typed errors, exact tokens, pipelining.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { Client, InvalidURLError, SessiondbError, sharedToken } from "sessiondb";
import { serverForFile } from "./server.mjs";

const context = serverForFile({}, { before, after });
let db;

beforeEach(async () => {
  db = context.db;
  await db.kvClear();
  await db.shEndAll();
});

describe("top-level keys", () => {
  test("set, add, get, contains, count, keys, rmv, clear", async () => {
    await db.kvSet({ "user:1": { name: "Ann", age: 31 }, visits: 7 });
    await db.kvAdd({ visits: 100, theme: "dark" });
    assert.deepEqual(await db.kvGet(["user:1", "visits", "nope"]), { "user:1": { name: "Ann", age: 31 }, visits: 7 });
    assert.deepEqual(await db.kvGet("theme"), { theme: "dark" });
    assert.deepEqual(await db.kvContains(["visits", "nope", "theme"]), ["visits", "theme"]);
    assert.equal(await db.kvCount(), 3);
    assert.deepEqual((await db.kvKeys()).sort(), ["theme", "user:1", "visits"]);
    await db.kvRmv(["theme"]);
    assert.equal(await db.kvClearSet({ a: 1 }), 2);
    assert.equal(await db.kvClear(), 1);
  });

  test("member order of a stored object is kept", async () => {
    await db.kvSet({ o: { b: 1, a: 2 } });
    assert.equal(await db.requestText('{"KV_GET":{"keys":["o"]}}'), '{"KV_GET_RSP":{"st":1,"keys":{"o":{"b":1,"a":2}}}}');
  });

  test("integers beyond 2^53 come back exact, as bigint", async () => {
    await db.kvSet({ big: 18446744073709551615n, safe: 9007199254740991 });
    assert.deepEqual(await db.kvGet(["big", "safe"]), { big: 18446744073709551615n, safe: 9007199254740991 });
  });

  test("a failure status rejects with its code, name and reply", async () => {
    const error = await db.kvRmv([]).catch((e) => e);
    assert.ok(error instanceof SessiondbError);
    assert.equal(error.status, 42);
    assert.equal(error.statusName, "ValueSize");
    assert.equal(error.reply, "KV_RMV_RSP");
    assert.equal(error.retryable, false);
  });

  test("a save resolves on 121 and a load on 141; a bad dataset name is refused", async () => {
    await db.kvSet({ sku: { price: 9.5 } });
    assert.equal((await db.kvSave("node-test")).name, "node-test");
    await db.kvClear();
    assert.equal((await db.kvLoad("node-test")).name, "node-test");
    assert.deepEqual(await db.kvGet(["sku"]), { sku: { price: 9.5 } });
    const error = await db.kvSave("../etc").catch((e) => e);
    assert.equal(error.statusName, "ValueTypeInvalid");
  });
});

describe("sessions", () => {
  test("a session's keys, counts and info", async () => {
    const tkn = await db.shNew({ expiry: 600, deleteSession: true, extendOnSetAdd: true, name: "basket-77" });
    assert.equal(typeof tkn, "bigint");
    await db.shSet(tkn, { a: 10, b: "x" });
    await db.shAdd(tkn, { a: 99, c: [1, 2] });
    assert.deepEqual(await db.shGet(tkn, ["a", "c", "zz"]), { a: 10, c: [1, 2] });
    assert.deepEqual(await db.shContains(tkn, ["a", "q", "c"]), ["a", "c"]);
    assert.equal(await db.shCount(tkn), 3);
    assert.deepEqual((await db.shKeys(tkn)).sort(), ["a", "b", "c"]);
    await db.shRmv(tkn, ["b"]);
    const info = await db.shInfo(tkn);
    assert.equal(info.tkn, tkn);
    assert.equal(info.keyCnt, 2);
    assert.equal(info.name, "basket-77");
    const { remaining, ...settings } = info.expiry;
    assert.ok(remaining >= 599 && remaining <= 600);
    assert.deepEqual(settings, { duration: 600, deleteSession: true, extendOnSetAdd: true, extendOnGet: false });
    assert.equal(await db.shClearSet(tkn, { z: 0 }), 2);
    assert.equal(await db.shClear(tkn), 1);
    assert.deepEqual(await db.shInfoAll(), { totalSessions: 1, totalKeys: 0 });
    assert.deepEqual(await db.shExists([tkn, 1n, 2]), [tkn]);
    await db.shEnd(tkn);
    const error = await db.shGet(tkn, ["a"]).catch((e) => e);
    assert.equal(error.status, 100);
    assert.equal(error.statusName, "SessionNotExist");
    assert.equal(await db.shEndAll(), 0);
  });

  test("a shared session is found by name, and its token is the one derived locally", async () => {
    const tkn = await db.shNew({ name: "settings", shared: true });
    assert.equal(tkn, 15900886249489855254n);
    assert.equal(await db.shOpen("settings"), tkn);
    assert.equal(sharedToken("settings"), tkn);
    const again = await db.shNew({ name: "settings", shared: true }).catch((e) => e);
    assert.equal(again.statusName, "SessionNewFail");
    assert.equal((await db.shOpen("nobody").catch((e) => e)).statusName, "SessionOpenFail");
  });

  test("shTouch re-arms through the flag the session has, and says when it cannot", async () => {
    const onGet = await db.shNew({ expiry: 60, extendOnGet: true });
    const never = await db.shNew();
    assert.equal(await db.shTouch(onGet), true);
    assert.equal(await db.shTouch(never), false);
  });

  test("sessions are saved and loaded", async () => {
    const tkn = await db.shNew({ name: "s" });
    await db.shSet(tkn, { k: "v" });
    const saved = await db.shSave("node-sessions", [tkn]);
    assert.equal(saved.name, "node-sessions");
    assert.equal(typeof saved.duration, "number");
    await db.shEndAll();
    const loaded = await db.shLoad("node-sessions");
    assert.equal(loaded.sessions, 1);
    assert.deepEqual(await db.shGet(tkn, ["k"]), { k: "v" });
  });

  test("expiry flags without a duration, and a bad token, are refused before sending", () => {
    assert.throws(() => db.shNew({ deleteSession: true }), TypeError);
    assert.throws(() => db.shGet(-1, []), TypeError);
    assert.throws(() => db.shGet(2 ** 60, []), TypeError);
  });
});

describe("the connection", () => {
  test("many requests in flight on one socket get their own replies, in order", async () => {
    const n = 200;
    const writes = Array.from({ length: n }, (_, i) => db.kvSet({ [`k${i}`]: i }));
    const reads = Array.from({ length: n }, (_, i) => db.kvGet([`k${i}`]));
    await Promise.all(writes);
    const values = await Promise.all(reads);
    values.forEach((v, i) => assert.deepEqual(v, { [`k${i}`]: i }));
  });

  test("a raw request gets the reply text the server sent", async () => {
    assert.equal(await db.requestText('{"SH_NOPE":{}}'), '{"SH_NOPE_RSP":{"st":10}}');
    assert.deepEqual(await db.request({ KV_COUNT: {} }), { KV_COUNT_RSP: { st: 1, cnt: 0 } });
  });

  test("sv_info describes the server", async () => {
    const info = await db.svInfo();
    assert.equal(info.persistEnabled, true);
    assert.equal(typeof info.serverVersion, "string");
  });

  test("a URL that is not ws:// says which one to use", () => {
    assert.throws(() => new Client("redis://127.0.0.1:6379"), (e) => e instanceof InvalidURLError && /use ws:\/\/127\.0\.0\.1:6379/.test(e.message));
    assert.throws(() => new Client("127.0.0.1:1987"), /use ws:\/\/127\.0\.0\.1:1987/);
  });
});

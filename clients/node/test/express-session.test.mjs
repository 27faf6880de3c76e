// SessiondbStore used as express-session documents stores, in an app driven by supertest,
// against the real server.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import express from "express";
import session from "express-session";
import request from "supertest";
import { Client, sharedToken } from "sessiondb";
import { SessiondbStore } from "sessiondb/express-session";
import { serverForFile, startServer } from "./server.mjs";

const context = serverForFile({ args: ["--no-persist"] }, { before, after });
let db;

beforeEach(() => {
  db = context.db;
  return db.shEndAll();
});

/** The example app: log in, count visits, see who you are, log out. */
function app(store, cookie = { maxAge: 60_000 }) {
  const a = express();
  a.use(express.json());
  a.use(session({ store, secret: "keyboard cat", resave: false, saveUninitialized: false, cookie }));
  a.post("/login", (req, res, next) => {
    // A new session id at login, so an id set before login cannot be reused (session fixation).
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = req.body.user;
      res.json({ user: req.session.user });
    });
  });
  a.get("/me", (req, res) => (req.session.user ? res.json({ user: req.session.user }) : res.status(401).json({ error: "log in first" })));
  a.post("/count", (req, res) => {
    req.session.count = (req.session.count ?? 0) + 1;
    res.json({ count: req.session.count });
  });
  a.post("/logout", (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({ ok: true }))));
  return a;
}

/** The session id in an agent's cookie (express-session signs it as s:<sid>.<signature>). */
function sidOf(agent, url = "/") {
  const cookie = agent.jar.getCookie("connect.sid", { domain: "127.0.0.1", path: url, secure: false, script: false });
  return decodeURIComponent(cookie.value).slice(2).split(".")[0];
}

function callback(fn) {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

describe("an express app with SessiondbStore", () => {
  test("login, a counter kept across requests, logout", async () => {
    const store = new SessiondbStore({ client: db });
    const agent = request.agent(app(store));
    await agent.get("/me").expect(401, { error: "log in first" });
    await agent.post("/login").send({ user: "ann" }).expect(200, { user: "ann" });
    await agent.get("/me").expect(200, { user: "ann" });
    await agent.post("/count").expect(200, { count: 1 });
    await agent.post("/count").expect(200, { count: 2 });

    const sid = sidOf(agent);
    const tkn = store.tokenOf(sid);
    assert.deepEqual(await db.shExists([tkn]), [tkn]);
    const { sess } = await db.shGet(tkn, ["sess"]);
    assert.equal(sess.user, "ann");
    assert.equal(sess.count, 2);
    assert.equal(sess.cookie.originalMaxAge, 60_000);

    await agent.post("/logout").expect(200, { ok: true });
    assert.deepEqual(await db.shExists([tkn]), []);
    await agent.get("/me").expect(401);
  });

  test("a session is the shared sessiondb session named prefix + sid, expiring with the cookie", async () => {
    const store = new SessiondbStore({ client: db, prefix: "myapp:" });
    const agent = request.agent(app(store, { maxAge: 90_000 }));
    await agent.post("/login").send({ user: "bo" }).expect(200);
    const sid = sidOf(agent);
    const tkn = await db.shOpen(`myapp:${sid}`);
    assert.equal(tkn, store.tokenOf(sid));
    const info = await db.shInfo(tkn);
    assert.equal(info.shared, true);
    assert.equal(info.expires, true);
    const { remaining, ...settings } = info.expiry;
    assert.ok(remaining >= 89 && remaining <= 90, `remaining ${remaining}`);
    assert.deepEqual(settings, { duration: 90, deleteSession: true, extendOnSetAdd: true, extendOnGet: false });
  });

  test("a session expires with its cookie's maxAge: the user is logged out", async () => {
    const store = new SessiondbStore({ client: db });
    // Two seconds, not one: the cookie's Expires has whole seconds, so the agent's jar may drop
    // it up to a second early, and the requests right after the login must still send it.
    const agent = request.agent(app(store, { maxAge: 2000 }));
    await agent.post("/login").send({ user: "cy" }).expect(200);
    const tkn = store.tokenOf(sidOf(agent));
    await agent.get("/me").expect(200, { user: "cy" });
    await new Promise((r) => setTimeout(r, 2100));
    assert.deepEqual(await db.shExists([tkn]), []);
    await agent.get("/me").expect(401);
  });

  test("an unknown or forged cookie finds no session", async () => {
    const store = new SessiondbStore({ client: db });
    await request(app(store)).get("/me").set("Cookie", "connect.sid=s%3Anobody.forged").expect(401);
  });
});

describe("the store's methods", () => {
  const cookie = (maxAge) => ({ originalMaxAge: maxAge, expires: new Date(Date.now() + maxAge).toISOString(), httpOnly: true, path: "/" });

  test("get, set, destroy", async () => {
    const store = new SessiondbStore({ client: db });
    assert.equal(await callback((cb) => store.get("s1", cb)), null);
    const sess = { cookie: { ...cookie(60_000), maxAge: 60_000 }, user: "dee", big: 2 ** 60 };
    await callback((cb) => store.set("s1", sess, cb));
    const back = await callback((cb) => store.get("s1", cb));
    assert.equal(back.user, "dee");
    assert.equal(back.big, 2 ** 60, "numbers come back as numbers, as JSON.parse gives them");
    await callback((cb) => store.destroy("s1", cb));
    assert.equal(await callback((cb) => store.get("s1", cb)), null);
    await callback((cb) => store.destroy("s1", cb));
  });

  test("touch re-arms the session; a session's duration follows a changed maxAge", async () => {
    const store = new SessiondbStore({ client: db });
    const lease = () => ({ cookie: { ...cookie(3000), maxAge: 3000 } });
    await callback((cb) => store.set("t1", lease(), cb));
    const tkn = store.tokenOf("t1");
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok((await db.shInfo(tkn)).expiry.remaining <= 1);
    await callback((cb) => store.touch("t1", lease(), cb));
    // Whole seconds left, rounded down: 3 when both fall in the same millisecond.
    assert.ok((await db.shInfo(tkn)).expiry.remaining >= 2);

    // "Remember me": the same session now lives 30 days.
    const month = 30 * 86_400_000;
    await callback((cb) => store.set("t1", { cookie: { ...cookie(month), maxAge: month }, user: "eve" }, cb));
    const info = await db.shInfo(tkn);
    assert.equal(info.expiry.duration, 30 * 86_400);
    assert.equal((await callback((cb) => store.get("t1", cb))).user, "eve");
  });

  test("a cookie without maxAge lives the store's ttl; a past maxAge destroys the session", async () => {
    const store = new SessiondbStore({ client: db, ttl: 300 });
    await callback((cb) => store.set("b1", { cookie: { originalMaxAge: null, expires: null } }, cb));
    assert.equal((await db.shInfo(store.tokenOf("b1"))).expiry.duration, 300);
    await callback((cb) => store.set("b1", { cookie: { originalMaxAge: 1000, expires: new Date(0).toISOString(), maxAge: -5 } }, cb));
    assert.deepEqual(await db.shExists([store.tokenOf("b1")]), []);
  });

  test("all, length and clear see this store's live sessions only", async () => {
    const store = new SessiondbStore({ client: db, prefix: "shop:" });
    const other = new SessiondbStore({ client: db, prefix: "blog:" });
    const unrelated = await db.shNew({ name: "not a web session" });
    for (const sid of ["a", "b", "c"]) {
      await callback((cb) => store.set(sid, { cookie: { ...cookie(60_000), maxAge: 60_000 }, n: sid }, cb));
    }
    await callback((cb) => other.set("z", { cookie: { ...cookie(60_000), maxAge: 60_000 } }, cb));
    assert.equal(await callback((cb) => store.length(cb)), 3);

    // A session ended behind the store's back is no longer counted, and is pruned from the index.
    await db.shEnd(store.tokenOf("b"));
    assert.equal(await callback((cb) => store.length(cb)), 2);
    const all = await callback((cb) => store.all(cb));
    assert.deepEqual(Object.keys(all).sort(), ["a", "c"]);
    assert.equal(all.a.n, "a");

    await callback((cb) => store.clear(cb));
    assert.equal(await callback((cb) => store.length(cb)), 0);
    assert.deepEqual(await callback((cb) => store.all(cb)), {});
    assert.equal(await callback((cb) => other.length(cb)), 1);
    assert.deepEqual(await db.shExists([unrelated]), [unrelated]);
  });

  test("a session ended behind the store's back is made again by the next save", async () => {
    const store = new SessiondbStore({ client: db });
    const save = (n) => callback((cb) => store.set("e1", { cookie: { ...cookie(60_000), maxAge: 60_000 }, n }, cb));
    await save(1);
    await db.shEnd(store.tokenOf("e1"));
    await save(2);
    assert.equal((await callback((cb) => store.get("e1", cb))).n, 2);
    assert.equal((await db.shInfo(store.tokenOf("e1"))).expiry.duration, 60);
  });

  test("two app processes share sessions, and a lifetime changed by one is kept by the other", async () => {
    const other = await Client.connect(context.server.url);
    const [a, b] = [new SessiondbStore({ client: db }), new SessiondbStore({ client: other })];
    const hour = { ...cookie(3_600_000), maxAge: 3_600_000 };
    const month = { ...cookie(30 * 86_400_000), maxAge: 30 * 86_400_000 };
    await callback((cb) => a.set("m1", { cookie: hour, user: "fay" }, cb));
    await callback((cb) => b.set("m1", { cookie: hour, user: "fay", seen: "b" }, cb));
    await callback((cb) => a.set("m1", { cookie: month, user: "fay", remember: true }, cb));
    const sess = await callback((cb) => b.get("m1", cb));
    assert.equal(sess.remember, true);
    await callback((cb) => b.set("m1", { ...sess, cookie: month }, cb));
    assert.equal((await db.shInfo(a.tokenOf("m1"))).expiry.duration, 30 * 86_400);
    other.close();
  });

  test("the index is made again when someone ended every session", async () => {
    const store = new SessiondbStore({ client: db });
    await callback((cb) => store.set("i1", { cookie: { ...cookie(60_000), maxAge: 60_000 } }, cb));
    await db.shEndAll();
    assert.equal(await callback((cb) => store.length(cb)), 0);
    await callback((cb) => store.set("i2", { cookie: { ...cookie(60_000), maxAge: 60_000 } }, cb));
    assert.equal(await callback((cb) => store.length(cb)), 1);
  });

  test("the index is pruned in the background after pruneEvery new sessions", async () => {
    const store = new SessiondbStore({ client: db, prefix: "p:", pruneEvery: 3 });
    const index = sharedToken("p:\u0000index");
    const save = (sid) => callback((cb) => store.set(sid, { cookie: { ...cookie(60_000), maxAge: 60_000 } }, cb));
    await save("a");
    await save("b");
    await db.shEnd(store.tokenOf("a"));
    assert.deepEqual((await db.shKeys(index)).sort(), ["a", "b"]);
    await save("c");
    // The pruning runs after the third save returned: wait for it, a bounded number of times.
    for (let i = 0; i < 200 && (await db.shKeys(index)).includes("a"); i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual((await db.shKeys(index)).sort(), ["b", "c"]);
  });

  test("a server that refuses to grow the index still saves the session, and says so", async () => {
    const limited = await startServer({ args: ["--no-persist", "--max-keys-per-session", "2"] });
    try {
      const store = new SessiondbStore({ url: limited.url });
      const errors = [];
      store.on("error", (e) => errors.push(e.statusName));
      for (const sid of ["x", "y", "z"]) {
        await callback((cb) => store.set(sid, { cookie: { ...cookie(60_000), maxAge: 60_000 }, n: sid }, cb));
      }
      assert.deepEqual(errors, ["LimitReached"]);
      assert.equal((await callback((cb) => store.get("z", cb))).n, "z");
      assert.equal(await callback((cb) => store.length(cb)), 2);
      store.client.close();
    } finally {
      await limited.stop();
    }
  });

  test("disableTouch leaves touch out, so express-session saves instead", async () => {
    const store = new SessiondbStore({ client: db, disableTouch: true });
    assert.equal(store.touch, undefined);
    const agent = request.agent(app(store));
    await agent.post("/login").send({ user: "gus" }).expect(200);
    await agent.get("/me").expect(200, { user: "gus" });
  });

  test("errors reach express-session's callback", async () => {
    const store = new SessiondbStore({ url: "ws://127.0.0.1:1" });
    await assert.rejects(callback((cb) => store.get("x", cb)), /cannot connect/);
  });
});

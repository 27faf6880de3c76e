// The CommonJS build is the same package as the ES module one, with both entry points.
const assert = require("node:assert/strict");
const { test } = require("node:test");

test("require() gives the client, the errors and the store", async () => {
  const sessiondb = require("sessiondb");
  const { SessiondbStore } = require("sessiondb/express-session");
  assert.equal(typeof sessiondb.Client, "function");
  assert.equal(sessiondb.statusName(100), "SessionNotExist");
  assert.equal(sessiondb.sharedToken("settings"), 15900886249489855254n);
  const store = new SessiondbStore({ url: "ws://127.0.0.1:1" });
  assert.equal(typeof store.get, "function");
  const esm = await import("sessiondb");
  assert.equal(esm.statusName(142), sessiondb.statusName(142));
});

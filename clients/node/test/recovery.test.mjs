// Dropped connections, restarts, timeouts and authentication, against the real server.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { WebSocketServer } from "ws";
import { Client, ConnectionLostError, DisconnectedError, RequestTimeoutError } from "sessiondb";
import { startProxy, startServer } from "./server.mjs";

describe("a connection dropped with a request in flight", () => {
  let server;
  let proxy;
  before(async () => {
    server = await startServer({ args: ["--no-persist"] });
    proxy = await startProxy(server.port);
  });
  after(async () => {
    await proxy.close();
    await server.stop();
  });

  test("a read is sent again on a new connection", async () => {
    const db = await Client.connect(proxy.url, { backoff: 5 });
    await db.kvSet({ a: 1 });
    proxy.dropNextRequest();
    assert.deepEqual(await db.kvGet(["a"]), { a: 1 });
    assert.equal(db.reconnects, 1);
    db.close();
  });

  test("a write rejects with ConnectionLostError, is not sent again, and the next call reconnects", async () => {
    const db = await Client.connect(proxy.url, { backoff: 5 });
    await db.kvClear();
    proxy.dropNextRequest();
    const error = await db.kvSet({ lost: 1 }).catch((e) => e);
    assert.ok(error instanceof ConnectionLostError, String(error));
    assert.equal(error.command, "KV_SET");
    assert.deepEqual(await db.kvGet(["lost"]), {});
    assert.equal(db.reconnects, 1);
    db.close();
  });

  test("requests pipelined behind a cut-off write: reads retried, writes rejected", async () => {
    const db = await Client.connect(proxy.url, { backoff: 5 });
    await db.kvSet({ r: "x" });
    proxy.dropNextRequest();
    const [write, read] = await Promise.allSettled([db.kvSet({ w: 1 }), db.kvGet(["r"])]);
    assert.ok(write.reason instanceof ConnectionLostError);
    assert.deepEqual(read.value, { r: "x" });
    db.close();
  });
});

describe("a server that restarts", () => {
  test("the next request reconnects with backoff; a closed client refuses", async () => {
    const server = await startServer();
    try {
      const db = await Client.connect(server.url, { backoff: 20, reconnectTries: 50 });
      await db.kvSet({ kept: true });
      await server.restart();
      assert.deepEqual(await db.kvGet(["kept"]), { kept: true });
      assert.equal(db.reconnects, 1);
      db.close();
      await assert.rejects(db.kvCount(), DisconnectedError);
    } finally {
      await server.stop();
    }
  });

  test("the first connection is not retried: a wrong port fails at once", async () => {
    const closed = net.createServer();
    await new Promise((r) => closed.listen(0, "127.0.0.1", r));
    const { port } = closed.address();
    await new Promise((r) => closed.close(r));
    await assert.rejects(Client.connect(`ws://127.0.0.1:${port}`), DisconnectedError);
  });
});

describe("timeouts", () => {
  // A WebSocket peer that accepts requests and never answers: what a stuck server looks like.
  let silent;
  before(async () => {
    silent = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((r) => silent.once("listening", r));
  });
  after(() => new Promise((r) => silent.close(r)));

  test("a request without a reply rejects with RequestTimeoutError and the connection is dropped", async () => {
    const db = new Client(`ws://127.0.0.1:${silent.address().port}`, { timeout: 100, reconnect: false });
    const error = await db.kvCount().catch((e) => e);
    assert.ok(error instanceof RequestTimeoutError, String(error));
    assert.equal(error.command, "KV_COUNT");
    assert.equal(db.connected, false);
    db.close();
  });
});

describe("authentication", () => {
  let server;
  before(async () => {
    // The environment keeps the secret off the command line.
    server = await startServer({ args: ["--no-persist"], env: { SESSIONDB_AUTH_SECRET: "s3cr@t" } });
  });
  after(() => server.stop());

  test("without the secret every command is refused with NotAuthenticated", async () => {
    const db = await Client.connect(server.url);
    const error = await db.kvCount().catch((e) => e);
    assert.equal(error.status, 200);
    assert.equal(error.statusName, "NotAuthenticated");
    assert.equal((await db.svAuth("wrong").catch((e) => e)).statusName, "AuthFailed");
    db.close();
  });

  test("the secret option authenticates at the upgrade; a wrong one is refused there", async () => {
    const db = await Client.connect(server.url, { secret: "s3cr@t" });
    assert.equal(typeof (await db.kvCount()), "number");
    db.close();
    await assert.rejects(Client.connect(server.url, { secret: "nope" }), /HTTP 401/);
  });

  test("credentials in the URL authenticate", async () => {
    const db = await Client.connect(server.url.replace("ws://", "ws://any:s3cr%40t@"));
    assert.equal(typeof (await db.kvCount()), "number");
    db.close();
  });

  test("a secret given to svAuth is sent again on each new connection", async () => {
    const proxy = await startProxy(server.port);
    try {
      const db = await Client.connect(proxy.url, { backoff: 5 });
      await db.svAuth("s3cr@t");
      proxy.dropNextRequest();
      assert.equal(typeof (await db.kvCount()), "number");
      assert.equal(db.reconnects, 1);
      db.close();
    } finally {
      await proxy.close();
    }
  });
});

describe("TLS", () => {
  let dir;
  let server;
  before(async () => {
    // A certificate made for this test, for 127.0.0.1, trusted by the client alone.
    dir = mkdtempSync(path.join(tmpdir(), "sessiondb-node-tls-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
    server = await startServer({ args: ["--tls-cert", path.join(dir, "cert.pem"), "--tls-key", path.join(dir, "key.pem")] });
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("wss:// with the certificate trusted works, and reconnects", async () => {
    assert.match(server.url, /^wss:/);
    const db = await Client.connect(server.url, { tls: { ca: readFileSync(path.join(dir, "cert.pem")) }, backoff: 20, reconnectTries: 50 });
    await db.kvSet({ secure: true });
    await server.restart();
    assert.deepEqual(await db.kvGet(["secure"]), { secure: true });
    assert.equal(db.reconnects, 1);
    db.close();
  });

  test("wss:// with an untrusted certificate is refused", async () => {
    await assert.rejects(Client.connect(server.url), (e) => e instanceof DisconnectedError && /self.signed|certificate/i.test(e.message));
  });
});

// The README's example app, run as a user would run it, logs in and out against the real server.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { Client } from "sessiondb";
import { freePort, startServer } from "./server.mjs";

let server;
let app;
let base;

before(async () => {
  server = await startServer({ args: ["--no-persist"] });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  app = spawn(process.execPath, [new URL("../examples/login.mjs", import.meta.url).pathname], {
    env: { ...process.env, PORT: String(port), SESSIONDB_URL: server.url },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 500; i++) {
    if (await fetch(base).then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("the example app did not start");
});

after(async () => {
  app.kill("SIGTERM");
  await server.stop();
});

async function get(cookie) {
  const res = await fetch(base, { headers: cookie ? { cookie } : {} });
  return res.text();
}

test("log in, stay logged in, log out", async () => {
  assert.equal(await get(), "please log in\n");
  const login = await fetch(`${base}/login`, { method: "POST", body: new URLSearchParams({ user: "ann" }) });
  assert.equal(await login.text(), "hello ann\n");
  const cookie = login.headers.get("set-cookie").split(";")[0];
  assert.equal(await get(cookie), "logged in as ann\n");

  const db = await Client.connect(server.url);
  assert.equal((await db.shInfoAll()).totalSessions, 2, "the user's session and the store's index");

  const logout = await fetch(`${base}/logout`, { method: "POST", headers: { cookie } });
  assert.equal(await logout.text(), "bye\n");
  assert.equal(await get(cookie), "please log in\n");
  assert.equal((await db.shInfoAll()).totalSessions, 1);
  db.close();
});

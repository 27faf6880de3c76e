// The admin console in a real headless Chromium, driven through chromedriver's WebDriver HTTP
// API (Node's own fetch; no npm packages): load the page, search, open a session, end it after
// the confirmation, and check what a person sees. Run by scripts/test-admin.sh, which installs
// Debian's chromium and chromium-driver and builds the binaries; ADMIN_SCREENSHOT=FILE also
// saves a screenshot of the dashboard (the README's).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SERVER = process.env.SESSIONDB_BIN ?? "target/debug/sessiondb";
const CLI = process.env.SESSIONDB_CLI ?? "target/debug/sessiondb-cli";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const CHROMEDRIVER = process.env.CHROMEDRIVER ?? "/usr/bin/chromedriver";
// Bounds on polling for a page or a process, never asserted on: a guard against a hang.
const POLL_MS = 50;
const POLLS = 400;

const children = [];
const scratch = mkdtempSync(join(tmpdir(), "sessiondb-admin-browser-"));
let ws; // ws://127.0.0.1:PORT
let admin; // http://127.0.0.1:PORT
let driver; // http://127.0.0.1:PORT/session/ID

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// Starts `cmd`; resolves with the first match of each of `patterns` in its stderr.
function startWithLog(cmd, args, patterns) {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let log = "";
    const found = new Array(patterns.length);
    child.stderr.on("data", (chunk) => {
      log += chunk.toString();
      patterns.forEach((p, i) => {
        found[i] ??= log.match(p)?.[1];
      });
      if (found.every((f) => f !== undefined)) resolve(found);
    });
    child.on("exit", (code) => reject(new Error(`${cmd} exited (${code}):\n${log}`)));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/// Sends JSON requests through sessiondb-cli's raw mode; returns the parsed replies.
function send(requests) {
  const out = execFileSync(CLI, ["-u", ws], {
    input: requests.map((r) => JSON.stringify(r)).join("\n") + "\n",
  });
  return out.toString().trim().split("\n").map((line) => JSON.parse(line));
}

/// Creates a session per [name, keys, seconds to live (900 if absent)]; returns their tokens by
/// name. Tokens exceed 2^53, so
/// they are read from the reply text, not as JavaScript numbers.
function sessions(list) {
  const out = execFileSync(CLI, ["-u", ws], {
    input:
      list
        .map(([name, , duration = 900]) =>
          JSON.stringify({ SH_NEW: { name, expiry: { duration, deleteSession: true } } }),
        )
        .join("\n") + "\n",
  }).toString();
  const tokens = [...out.matchAll(/"tkn":(\d+)/g)].map((m) => m[1]);
  assert.equal(tokens.length, list.length, out);
  const sets = list.map(
    ([, keys], i) => `{"SH_SET":{"tkn":${tokens[i]},"keys":${JSON.stringify(keys)}}}`,
  );
  execFileSync(CLI, ["-u", ws], { input: sets.join("\n") + "\n" });
  return Object.fromEntries(list.map(([name], i) => [name, tokens[i]]));
}

async function wd(method, path, body) {
  const reply = await fetch(driver + path, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await reply.json();
  if (!reply.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value)}`);
  return json.value;
}

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

/// Whether a WebDriver error is about an element of a page being replaced (a navigation that
/// is still under way), which a later poll gets past.
const stale = (e) => /stale element|no such element/.test(String(e.message));

/// Waits until `css` matches an element (whose text satisfies `ok`, when given); returns it.
async function find(css, ok = () => true) {
  for (let i = 0; i < POLLS; i++) {
    try {
      const found = await wd("POST", "/elements", { using: "css selector", value: css });
      for (const el of found) {
        const text = await wd("GET", `/element/${el[ELEMENT]}/text`);
        if (ok(text)) return { id: el[ELEMENT], text };
      }
    } catch (e) {
      if (!stale(e)) throw e;
    }
    await sleep(POLL_MS);
  }
  throw new Error(`no element ${css} as expected on ${await wd("GET", "/url")}`);
}

/// The texts of every element `css` matches, once the page holds still long enough to read them.
async function texts(css) {
  for (let i = 0; i < POLLS; i++) {
    try {
      const found = await wd("POST", "/elements", { using: "css selector", value: css });
      return await Promise.all(found.map((el) => wd("GET", `/element/${el[ELEMENT]}/text`)));
    } catch (e) {
      if (!stale(e)) throw e;
    }
    await sleep(POLL_MS);
  }
  throw new Error(`the elements ${css} kept changing`);
}

const click = (el) => wd("POST", `/element/${el.id}/click`, {});

before(async () => {
  const data = join(scratch, "data");
  [ws, admin] = await startWithLog(
    SERVER,
    ["--port", "0", "--admin-addr", "127.0.0.1:0", "--data-dir", data, "--no-persist"],
    [/listening on (ws:\/\/[0-9.:]+)/, /admin console on (http:\/\/[0-9.:]+)\//],
  );
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const chromedriver = spawn(CHROMEDRIVER, [`--port=${port}`], { stdio: "ignore" });
  children.push(chromedriver);
  for (let i = 0; i < POLLS; i++) {
    const ready = await fetch(`${base}/status`)
      .then((r) => r.json())
      .then((s) => s.value.ready)
      .catch(() => false);
    if (ready) break;
    await sleep(POLL_MS);
  }
  const created = await fetch(`${base}/session`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      capabilities: {
        alwaysMatch: {
          browserName: "chrome",
          "goog:chromeOptions": {
            binary: CHROMIUM,
            args: [
              "--headless",
              "--no-sandbox",
              "--disable-gpu",
              "--disable-quic",
              "--no-first-run",
              "--disable-background-networking",
              "--disable-component-update",
              "--disable-sync",
              "--window-size=1200,1100",
              `--user-data-dir=${join(scratch, "chromium")}`,
            ],
          },
        },
      },
    }),
  }).then((r) => r.json());
  assert.ok(created.value?.sessionId, JSON.stringify(created));
  driver = `${base}/session/${created.value.sessionId}`;
});

after(async () => {
  if (driver) await fetch(driver, { method: "DELETE" }).catch(() => {});
  for (const child of children) child.kill();
  rmSync(scratch, { recursive: true, force: true });
});

test("a person searches, opens a session and ends it after confirming", async () => {
  const tokens = sessions([
    ["user:alice", { cart: [3, 7], theme: "dark" }],
    ["user:bob", { cart: [] }],
    ["order:1001", { total: 42.5 }],
    ['<img src=x onerror="window.pwned=1">', { note: "<b>not bold</b>" }],
  ]);
  // Some traffic for the ops chart.
  send(Array.from({ length: 50 }, () => ({ SH_INFO_ALL: {} })));

  await wd("POST", "/url", { url: `${admin}/` });
  assert.equal(await wd("GET", "/title"), "Dashboard · sessiondb admin");
  assert.equal((await find("#live-sessions")).text, "4");
  assert.equal((await find("#matching")).text, "4 sessions in all");
  // The hostile name is shown as text and ran nothing.
  assert.ok((await texts("section.search td a")).includes('<img src=x onerror="window.pwned=1">'));
  assert.equal(await wd("POST", "/execute/sync", { script: "return window.pwned === undefined", args: [] }), true);

  const box = await find('input[name="q"]');
  await wd("POST", `/element/${box.id}/value`, { text: "user:" });
  await click(await find('form[role="search"] button'));
  await find("#matching", (t) => t === "2 sessions named “user:…”");
  assert.match(await wd("GET", "/url"), /\/\?q=user%3A$/);
  assert.deepEqual(await texts("section.search td a"), ["user:alice", "user:bob"]);

  await click(await find("section.search td a", (t) => t === "user:alice"));
  await find("h1", (t) => t === "Session user:alice");
  assert.equal((await find("dd.tkn")).text, tokens["user:alice"]);
  assert.deepEqual(await texts("table.keys td.key"), ["cart", "theme"]);
  assert.deepEqual(await texts("table.keys code"), ["[3,7]", '"dark"']);

  await click(await find("a.button", (t) => t === "End session…"));
  await find("h1", (t) => t === "End session user:alice?");
  assert.match((await find(".confirm p")).text, /deletes the session and its 2 keys/);
  await click(await find("button", (t) => t === "Yes, end it"));
  await find(".notice", (t) => t === `Session ${tokens["user:alice"]} ended.`);
  assert.equal((await find("#live-sessions")).text, "3");

  // The shared search link still works, now without alice.
  await wd("POST", "/url", { url: `${admin}/?q=user%3A` });
  await find("#matching", (t) => t === "1 session named “user:…”");
  assert.deepEqual(await texts("section.search td a"), ["user:bob"]);

  if (process.env.ADMIN_SCREENSHOT) await screenshot(process.env.ADMIN_SCREENSHOT);
});

/// Fills the store and sends traffic for a few seconds, so the dashboard shows something, then
/// saves what the browser shows.
async function screenshot(file) {
  const carts = [];
  for (let i = 1; i <= 24; i++) {
    const items = Array.from({ length: 1 + (i % 4) }, (_, k) => 100 + ((i * 31 + k * 7) % 900));
    carts.push([`cart:${1000 + i * 37}`, { items, total: i * 9.5, currency: "EUR" }, 60 * (3 + ((i * 7) % 50))]);
  }
  sessions(carts);
  for (let i = 0; i < 8; i++) {
    send(Array.from({ length: 300 + ((i * 137) % 400) }, () => ({ SH_INFO_ALL: {} })));
    await sleep(1000);
  }
  await wd("POST", "/url", { url: `${admin}/?q=cart%3A` });
  await find("#matching");
  writeFileSync(file, Buffer.from(await wd("GET", "/screenshot"), "base64"));
}

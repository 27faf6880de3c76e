// Requests/s of the same express app with SessiondbStore and with connect-redis, side by side in
// one run: both backends and both apps run at once, and the rounds alternate between them.
//
//   node bench.mjs [--duration SECS | --amount N] [--connections C] [--users U] [--rounds R]
//
// Needs SESSIONDB_BIN (the sessiondb binary) and redis-server on the PATH; scripts/bench-node.sh
// provides both. Each round logs U users in, then loads GET /me (a read and a touch per request)
// and POST /count (a read and a write per request), each user's cookie in turn.
import { execFileSync, fork, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { parseArgs } from "node:util";
import autocannon from "autocannon";

const { values: opts } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    amount: { type: "string" },
    connections: { type: "string", default: "50" },
    users: { type: "string", default: "1000" },
    rounds: { type: "string", default: "3" },
    json: { type: "boolean", default: false },
  },
});
const USERS = Number(opts.users);
const ROUNDS = Number(opts.rounds);

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitForPort(port) {
  for (let i = 0; i < 500; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => s.end(() => resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listens on ${port}`);
}

// CPU time per request does not depend on how much of the machine the processes were given, so
// it is the figure to compare on a loaded machine (requests/s is only side by side in one run).
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());

/** User + system CPU time of process `pid` so far, in microseconds (Linux /proc). */
function cpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

const children = [];
function run(cmd, args) {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  return child;
}
process.on("exit", () => children.forEach((c) => c.kill("SIGTERM")));

async function startApp(kind, backend) {
  const port = await freePort();
  const child = fork(new URL("./app.mjs", import.meta.url), [kind, backend, String(port)], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  children.push(child);
  await new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("exit", (code) => reject(new Error(`${kind} app exited with ${code}`)));
  });
  return { kind, url: `http://127.0.0.1:${port}`, pid: child.pid, backendPid: backendPids[kind] };
}

/** Logs `USERS` users in and returns their session cookies. */
async function login(app) {
  const cookies = [];
  for (let i = 0; i < USERS; i += 50) {
    const batch = Array.from({ length: Math.min(50, USERS - i) }, async (_, j) => {
      const res = await fetch(`${app.url}/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: `user${i + j}` }) });
      if (res.status !== 200) throw new Error(`${app.kind} login answered ${res.status}`);
      return res.headers.get("set-cookie").split(";")[0];
    });
    cookies.push(...(await Promise.all(batch)));
  }
  return cookies;
}

async function load(app, cookies, method, path) {
  let next = 0;
  const before = [cpuMicros(app.pid), cpuMicros(app.backendPid)];
  const result = await autocannon({
    url: app.url,
    connections: Number(opts.connections),
    ...(opts.amount ? { amount: Number(opts.amount) } : { duration: Number(opts.duration) }),
    requests: [{ method, path, setupRequest: (req) => ({ ...req, headers: { ...req.headers, cookie: cookies[next++ % cookies.length] } }) }],
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${app.kind} ${method} ${path}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  const seconds = (new Date(result.finish) - new Date(result.start)) / 1000;
  const total = result.requests.total;
  const appCpu = (cpuMicros(app.pid) - before[0]) / total;
  const backendCpu = (cpuMicros(app.backendPid) - before[1]) / total;
  return { rps: total / seconds, appCpu, backendCpu, p50: result.latency.p50, p99: result.latency.p99, total: result.requests.total };
}

const sessiondbPort = await freePort();
const redisPort = await freePort();
const backendPids = {};
backendPids.sessiondb = run(process.env.SESSIONDB_BIN ?? "sessiondb", ["--ip", "127.0.0.1", "--port", String(sessiondbPort), "--no-persist", "--threads", "1", "--log-level", "warn"]).pid;
backendPids.redis = run("redis-server", ["--bind", "127.0.0.1", "--port", String(redisPort), "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]).pid;
await Promise.all([waitForPort(sessiondbPort), waitForPort(redisPort)]);
const apps = [await startApp("sessiondb", `ws://127.0.0.1:${sessiondbPort}`), await startApp("redis", `redis://127.0.0.1:${redisPort}`)];

const scenarios = [
  ["GET", "/me"],
  ["POST", "/count"],
];
const results = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const app of apps) {
    const cookies = await login(app);
    for (const [method, path] of scenarios) {
      results.push({ round, store: app.kind, request: `${method} ${path}`, ...(await load(app, cookies, method, path)) });
    }
  }
}

if (opts.json) {
  console.log(JSON.stringify(results));
} else {
  console.log(`load average before the end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}; ${os.cpus().length} CPUs`);
  console.log("| request | store | round | requests/s | app CPU µs/req | backend CPU µs/req | p50 ms | p99 ms |");
  console.log("|---|---|---:|---:|---:|---:|---:|---:|");
  for (const r of results) {
    const store = r.store === "redis" ? "connect-redis" : "SessiondbStore";
    console.log(`| ${r.request} | ${store} | ${r.round} | ${Math.round(r.rps)} | ${Math.round(r.appCpu)} | ${Math.round(r.backendCpu)} | ${r.p50} | ${r.p99} |`);
  }
  for (const [method, path] of scenarios) {
    const median = (kind, field) => {
      const v = results.filter((r) => r.store === kind && r.request === `${method} ${path}`).map((r) => r[field]).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)];
    };
    const line = (field, unit) =>
      `${unit} SessiondbStore ${Math.round(median("sessiondb", field))}, connect-redis ${Math.round(median("redis", field))} ` +
      `(ratio ${(median("sessiondb", field) / median("redis", field)).toFixed(2)})`;
    console.log(`${method} ${path}, medians: ${line("rps", "requests/s")}; ${line("appCpu", "app CPU µs/req")}; ${line("backendCpu", "backend CPU µs/req")}`);
  }
}
process.exit(0);

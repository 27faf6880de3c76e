// Starts the real sessiondb binary on a free loopback port for a test file, and a TCP proxy in
// front of it that a test can cut to drop the client's connection.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "sessiondb";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

function serverBinary() {
  const bin = process.env.SESSIONDB_BIN || path.join(REPO, "target/debug/sessiondb");
  if (!existsSync(bin)) {
    throw new Error(`sessiondb binary not found at ${bin}: run \`cargo build -p sessiondb-server --bin sessiondb\` or set SESSIONDB_BIN`);
  }
  return bin;
}

/** A port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** The HTTP status of GET /health (over TLS when `secure`), or null when nothing answers yet. */
function healthStatus(port, secure) {
  return new Promise((resolve) => {
    const socket = secure
      ? tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false })
      : net.connect(port, "127.0.0.1");
    let head = "";
    socket.setTimeout(2000, () => socket.destroy());
    socket.on(secure ? "secureConnect" : "connect", () => socket.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    socket.on("data", (d) => (head += d.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => {
      const code = Number(head.split(" ")[1]);
      resolve(Number.isInteger(code) && code > 0 ? code : null);
    });
  });
}

/**
 * Runs the server with `args` (and `env` on a clean SESSIONDB_* environment) until `stop()`.
 * Resolves once it serves, to `{ url, port, stop, restart }`.
 */
export async function startServer({ args = [], env = {}, port } = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sessiondb-node-"));
  const listenPort = port ?? (await freePort());
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SESSIONDB_")));
  let proc;
  const launch = async () => {
    proc = spawn(serverBinary(), ["--ip", "127.0.0.1", "--port", String(listenPort), "--data-dir", dataDir, "--log-level", "warn", ...args], {
      env: { ...cleanEnv, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    proc.stderr.on("data", (d) => (stderr += d));
    for (let i = 0; i < 750; i++) {
      if (proc.exitCode !== null) throw new Error(`sessiondb exited with ${proc.exitCode}: ${stderr}`);
      if ((await healthStatus(listenPort, args.includes("--tls-cert"))) === 200) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`sessiondb did not serve on port ${listenPort}`);
  };
  const halt = () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once("exit", resolve);
      proc.kill("SIGTERM");
    });
  await launch();
  return {
    url: `${args.includes("--tls-cert") ? "wss" : "ws"}://127.0.0.1:${listenPort}`,
    port: listenPort,
    /** Stops the server and removes its data directory. */
    async stop() {
      await halt();
      rmSync(dataDir, { recursive: true, force: true });
    },
    /** Stops the server and starts it again on the same port and data directory. */
    async restart() {
      await halt();
      await launch();
    },
  };
}

/**
 * A TCP proxy on a free loopback port forwarding to `port`. `dropNextRequest()` makes it close the
 * next client connection the moment that client sends a WebSocket frame, before forwarding it:
 * the request is then in flight and has not reached the server.
 */
export async function startProxy(port) {
  const sockets = new Set();
  let dropNext = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1");
    sockets.add(client).add(upstream);
    let upgraded = false;
    client.on("data", (data) => {
      if (upgraded && dropNext) {
        dropNext = false;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(data);
    });
    upstream.on("data", (data) => {
      // The first bytes back are the 101 response: from then on the client sends frames.
      upgraded = true;
      client.write(data);
    });
    for (const s of [client, upstream]) {
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `ws://127.0.0.1:${server.address().port}`,
    dropNextRequest() {
      dropNext = true;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Registers before/after hooks of the calling test file that start a server (with `options` as
 * startServer takes them) and a connected client, and returns the object that holds both once
 * the hooks ran: `{ server, db }`.
 */
export function serverForFile(options, hooks) {
  const context = {};
  hooks.before(async () => {
    context.server = await startServer(options);
    context.db = await Client.connect(context.server.url);
  });
  hooks.after(async () => {
    context.db.close();
    await context.server.stop();
  });
  return context;
}

// The benchmarked app: the same express app as the tests (log in, who am I, count visits), with
// its sessions in sessiondb (SessiondbStore) or in Redis (connect-redis), by the first argument.
//   node app.mjs sessiondb ws://127.0.0.1:PORT APP_PORT
//   node app.mjs redis redis://127.0.0.1:PORT APP_PORT
import express from "express";
import session from "express-session";

const [kind, backend, port] = process.argv.slice(2);

async function makeStore() {
  if (kind === "sessiondb") {
    const { SessiondbStore } = await import("sessiondb/express-session");
    return new SessiondbStore({ url: backend });
  }
  if (kind === "redis") {
    const { RedisStore } = await import("connect-redis");
    const { createClient } = await import("redis");
    const client = createClient({ url: backend });
    await client.connect();
    return new RedisStore({ client });
  }
  throw new Error(`unknown store ${kind}: sessiondb or redis`);
}

const app = express();
app.use(express.json());
app.use(session({ store: await makeStore(), secret: "bench secret", resave: false, saveUninitialized: false, cookie: { maxAge: 3_600_000 } }));
app.post("/login", (req, res) => {
  req.session.user = req.body.user;
  res.json({ user: req.session.user });
});
app.get("/me", (req, res) => (req.session.user ? res.json({ user: req.session.user }) : res.status(401).end()));
app.post("/count", (req, res) => {
  req.session.count = (req.session.count ?? 0) + 1;
  res.json({ count: req.session.count });
});
app.listen(Number(port), "127.0.0.1", () => process.send?.("listening"));

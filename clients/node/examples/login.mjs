import express from "express";
import session from "express-session";
import { SessiondbStore } from "sessiondb/express-session";

const app = express();
app.use(express.urlencoded({ extended: false }));
app.use(session({ store: new SessiondbStore({ url: process.env.SESSIONDB_URL ?? "ws://127.0.0.1:1987" }),
  secret: "change me", resave: false, saveUninitialized: false, cookie: { maxAge: 3_600_000 } }));
app.post("/login", (req, res) => req.session.regenerate(() => {
  req.session.user = req.body.user;
  res.send(`hello ${req.session.user}\n`);
}));
app.get("/", (req, res) => res.send(req.session.user ? `logged in as ${req.session.user}\n` : "please log in\n"));
app.post("/logout", (req, res) => req.session.destroy(() => res.send("bye\n")));
app.listen(process.env.PORT ?? 3000);

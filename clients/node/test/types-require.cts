// Compiled (not run) by `npm test`: the CommonJS declarations type require() users too.
import sessiondb = require("sessiondb");
import store = require("sessiondb/express-session");

export const db: sessiondb.Client = new sessiondb.Client("ws://127.0.0.1:1987");
export const sessions = new store.SessiondbStore({ client: db });
export const name: string = sessiondb.statusName(100);

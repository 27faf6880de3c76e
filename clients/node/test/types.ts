// Compiled (not run) by `npm test`: the published declarations type a user's code as intended.
import session from "express-session";
import { Client, type JsonValue, SessiondbError, sharedToken, type Token } from "sessiondb";
import { SessiondbStore } from "sessiondb/express-session";

export async function usage(): Promise<void> {
  const db: Client = await Client.connect("ws://127.0.0.1:1987", { timeout: 1000, secret: "s" });
  const tkn: bigint = await db.shNew({ expiry: 60, deleteSession: true });
  const asNumber: Token = 5;
  const keys: Record<string, JsonValue> = await db.shGet(tkn, ["a"]);
  const count: number = await db.shCount(asNumber);
  const shared: bigint = sharedToken("settings");
  try {
    await db.kvRmv([]);
  } catch (e) {
    if (e instanceof SessiondbError) console.log(e.status satisfies number, e.statusName satisfies string);
  }
  const store: session.Store = new SessiondbStore({ client: db, prefix: "app:", ttl: 60 });
  session({ store, secret: "x", resave: false, saveUninitialized: false });
  console.log(keys, count, shared);
}

// Shared-session tokens derived locally agree with docs/PROTOCOL.md 8.3 and with the server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sharedToken } from "sessiondb";
import { serverForFile } from "./server.mjs";

const context = serverForFile({ args: ["--no-persist"] }, { before, after });

test("the protocol's test vectors", () => {
  assert.equal(sharedToken("settings"), 15900886249489855254n);
  assert.equal(sharedToken("config"), 16293854323119613365n);
  assert.equal(sharedToken("café"), 3519951774017562329n);
  assert.equal(sharedToken("team/42"), 2556186590011935489n);
});

test("the server derives the same token for names of every block and chunk shape", async () => {
  // 0..4200 bytes of name crosses BLAKE3's 64-byte blocks and 1024-byte chunks, up to a tree of 5.
  const lengths = [1, 2, 46, 47, 48, 63, 64, 65, 1006, 1007, 1008, 1500, 2030, 2031, 2032, 3055, 3056, 4079, 4080, 4200];
  const names = lengths.map((n) => "é".repeat(n >> 1) + "x".repeat(n & 1));
  const tokens = await Promise.all(names.map((name) => context.db.shNew({ name, shared: true })));
  names.forEach((name, i) => assert.equal(sharedToken(name), tokens[i], `name of ${Buffer.byteLength(name)} bytes`));
});

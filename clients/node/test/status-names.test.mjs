// The client names statuses exactly as docs/PROTOCOL.md section 5 does: every code sessiondb sends
// and every reserved code, and no code beyond them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { STATUS_NAMES, statusName } from "sessiondb";

const doc = readFileSync(new URL("../../../docs/PROTOCOL.md", import.meta.url), "utf8");
const section = doc.slice(doc.indexOf("## 5. Status codes"), doc.indexOf("## 6. Parameter validation"));

function documentedNames() {
  const names = new Map();
  for (const [, code, name] of section.matchAll(/^\| (\d+) \| (\w+) \|/gm)) names.set(Number(code), name);
  const reserved = section.match(/Codes reserved for compatibility and \*\*never sent\*\* by sessiondb:([^.]*)\./);
  assert.ok(reserved, "the reserved codes sentence is in section 5");
  for (const [, code, name] of reserved[1].matchAll(/(\d+) (\w+)/g)) names.set(Number(code), name);
  return names;
}

test("every status of the protocol's table has the table's name in the client", () => {
  const names = documentedNames();
  assert.ok(names.size > 30, `found ${names.size} codes in section 5`);
  for (const [code, name] of names) assert.equal(statusName(code), name, `code ${code}`);
});

test("the client names no code the table does not have", () => {
  const names = documentedNames();
  for (const code of Object.keys(STATUS_NAMES).map(Number)) assert.ok(names.has(code), `code ${code}`);
  assert.equal(statusName(999), "Unrecognised");
});

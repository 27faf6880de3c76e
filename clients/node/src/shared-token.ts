/**
 * The token of a shared session, derived from its name as docs/PROTOCOL.md section 8.3 says:
 * the first 8 bytes, little-endian, of BLAKE3("sessiondb-shared:" + name), with 0 mapped to 1.
 *
 * Knowing the token without asking the server saves `SH_OPEN`'s round trip: the express-session
 * store reaches a session by its id in one request. Node's crypto has no BLAKE3, so this is the
 * plain (unkeyed, 32-byte output) BLAKE3 hash, written from its specification.
 */

const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
const CHUNK_START = 1;
const CHUNK_END = 2;
const PARENT = 4;
const ROOT = 8;
const BLOCK_LEN = 64;
const CHUNK_LEN = 1024;

/** The token of the shared session named `name` (a u64, never 0). */
export function sharedToken(name: string): bigint {
  const digest = blake3(new TextEncoder().encode(`sessiondb-shared:${name}`));
  const token = BigInt(digest[0]) | (BigInt(digest[1]) << 32n);
  return token === 0n ? 1n : token;
}

/** BLAKE3 of `input`: the first 8 little-endian words of the 32-byte digest. */
export function blake3(input: Uint8Array): Uint32Array {
  const chunks = Math.max(1, Math.ceil(input.length / CHUNK_LEN));
  // Chaining values of complete subtrees, as in the specification's reference implementation.
  const stack: Uint32Array[] = [];
  for (let i = 0; i < chunks; i++) {
    const chunk = input.subarray(i * CHUNK_LEN, (i + 1) * CHUNK_LEN);
    const last = i === chunks - 1;
    let cv = chunkValue(chunk, i, last && chunks === 1);
    if (!last) {
      for (let done = i + 1; (done & 1) === 0; done >>= 1) {
        cv = parent(stack.pop() as Uint32Array, cv, 0);
      }
      stack.push(cv);
      continue;
    }
    while (stack.length > 0) {
      cv = parent(stack.pop() as Uint32Array, cv, stack.length === 0 ? ROOT : 0);
    }
    return cv;
  }
  throw new Error("unreachable: the last chunk returns");
}

function chunkValue(chunk: Uint8Array, counter: number, root: boolean): Uint32Array {
  const blocks = Math.max(1, Math.ceil(chunk.length / BLOCK_LEN));
  let cv: Uint32Array = IV;
  for (let b = 0; b < blocks; b++) {
    const bytes = chunk.subarray(b * BLOCK_LEN, (b + 1) * BLOCK_LEN);
    let flags = b === 0 ? CHUNK_START : 0;
    if (b === blocks - 1) flags |= CHUNK_END | (root ? ROOT : 0);
    cv = compress(cv, blockWords(bytes), counter, bytes.length, flags);
  }
  return cv;
}

function parent(left: Uint32Array, right: Uint32Array, flags: number): Uint32Array {
  const words = new Uint32Array(16);
  words.set(left, 0);
  words.set(right, 8);
  return compress(IV, words, 0, BLOCK_LEN, PARENT | flags);
}

function blockWords(bytes: Uint8Array): Uint32Array {
  const padded = new Uint8Array(BLOCK_LEN);
  padded.set(bytes);
  const view = new DataView(padded.buffer);
  const words = new Uint32Array(16);
  for (let i = 0; i < 16; i++) words[i] = view.getUint32(i * 4, true);
  return words;
}

function compress(cv: Uint32Array, block: Uint32Array, counter: number, blockLen: number, flags: number): Uint32Array {
  const s = new Uint32Array(16);
  s.set(cv, 0);
  s.set(IV.subarray(0, 4), 8);
  s[12] = counter >>> 0;
  s[13] = Math.floor(counter / 2 ** 32) >>> 0;
  s[14] = blockLen;
  s[15] = flags;
  let m = block;
  for (let round = 0; round < 7; round++) {
    g(s, 0, 4, 8, 12, m[0], m[1]);
    g(s, 1, 5, 9, 13, m[2], m[3]);
    g(s, 2, 6, 10, 14, m[4], m[5]);
    g(s, 3, 7, 11, 15, m[6], m[7]);
    g(s, 0, 5, 10, 15, m[8], m[9]);
    g(s, 1, 6, 11, 12, m[10], m[11]);
    g(s, 2, 7, 8, 13, m[12], m[13]);
    g(s, 3, 4, 9, 14, m[14], m[15]);
    const next = new Uint32Array(16);
    for (let i = 0; i < 16; i++) next[i] = m[PERMUTATION[i]];
    m = next;
  }
  const out = new Uint32Array(8);
  for (let i = 0; i < 8; i++) out[i] = s[i] ^ s[i + 8];
  return out;
}

function g(s: Uint32Array, a: number, b: number, c: number, d: number, x: number, y: number): void {
  s[a] = s[a] + s[b] + x;
  s[d] = rotr(s[d] ^ s[a], 16);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 12);
  s[a] = s[a] + s[b] + y;
  s[d] = rotr(s[d] ^ s[a], 8);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 7);
}

function rotr(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}

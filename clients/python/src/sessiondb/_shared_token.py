"""The token of a shared session, computed from its name as the server does (docs/PROTOCOL.md 8.3).

Knowing the token without asking (``SH_OPEN``) lets a client send a shared session's commands
at once, saving a round trip. The derivation hashes ``"sessiondb-shared:" + name`` with BLAKE3,
which the standard library lacks; this is BLAKE3 for inputs of one chunk (up to 1024 bytes), the
only case session names need: a longer name gets None, and the caller asks the server instead.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import List, Optional

_PREFIX = b"sessiondb-shared:"
_CHUNK_LEN, _BLOCK_LEN = 1024, 64
_CHUNK_START, _CHUNK_END, _ROOT = 1, 2, 8
_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
       0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
_PERMUTATION = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
_MASK = 0xFFFFFFFF


# A web process sees the same few session names again and again; hashing in Python is slower
# than a dictionary look-up.
@lru_cache(maxsize=4096)
def shared_token(name: str) -> Optional[int]:
    """The token the server gives the shared session ``name``, or None for a name too long."""
    data = _PREFIX + name.encode("utf-8")
    if len(data) > _CHUNK_LEN:
        return None
    digest = _blake3_one_chunk(data)
    token = digest[0] | digest[1] << 32
    return token or 1


def _blake3_one_chunk(data: bytes) -> List[int]:
    """The first 8 words of BLAKE3(data), for ``len(data) <= 1024``."""
    blocks = [data[i:i + _BLOCK_LEN] for i in range(0, len(data), _BLOCK_LEN)] or [b""]
    cv = list(_IV)
    for i, block in enumerate(blocks):
        flags = (_CHUNK_START if i == 0 else 0) | (
            _CHUNK_END | _ROOT if i == len(blocks) - 1 else 0)
        words = list(struct.unpack("<16I", block.ljust(_BLOCK_LEN, b"\0")))
        cv = _compress(cv, words, len(block), flags)
    return cv


def _compress(cv: List[int], m: List[int], block_len: int, flags: int) -> List[int]:
    # The chunk counter is 0: a single chunk is chunk 0.
    s = cv + list(_IV[:4]) + [0, 0, block_len, flags]
    for round_no in range(7):
        _g(s, 0, 4, 8, 12, m[0], m[1])
        _g(s, 1, 5, 9, 13, m[2], m[3])
        _g(s, 2, 6, 10, 14, m[4], m[5])
        _g(s, 3, 7, 11, 15, m[6], m[7])
        _g(s, 0, 5, 10, 15, m[8], m[9])
        _g(s, 1, 6, 11, 12, m[10], m[11])
        _g(s, 2, 7, 8, 13, m[12], m[13])
        _g(s, 3, 4, 9, 14, m[14], m[15])
        if round_no < 6:
            m = [m[i] for i in _PERMUTATION]
    return [s[i] ^ s[i + 8] for i in range(8)]


def _g(s: List[int], a: int, b: int, c: int, d: int, x: int, y: int) -> None:
    s[a] = (s[a] + s[b] + x) & _MASK
    s[d] = _rotr(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & _MASK
    s[b] = _rotr(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b] + y) & _MASK
    s[d] = _rotr(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & _MASK
    s[b] = _rotr(s[b] ^ s[c], 7)


def _rotr(x: int, n: int) -> int:
    return (x >> n | x << (32 - n)) & _MASK

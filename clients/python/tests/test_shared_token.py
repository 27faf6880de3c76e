"""Shared-session tokens computed by the client are the ones the server derives."""

import pytest

from sessiondb._shared_token import shared_token

PROTOCOL_VECTORS = [  # docs/PROTOCOL.md 8.3
    ("settings", 15900886249489855254),
    ("config", 16293854323119613365),
    ("café", 3519951774017562329),
    ("team/42", 2556186590011935489),
]


@pytest.mark.parametrize("name,token", PROTOCOL_VECTORS)
def test_protocol_vectors(name, token):
    assert shared_token(name) == token


# Around the 64-byte block edges of the hash input ("sessiondb-shared:" is 17 bytes) and up to
# the largest name that fits one 1024-byte chunk.
@pytest.mark.parametrize("name", ["x" * n for n in (1, 46, 47, 48, 111, 112, 500, 1007)] + [
    "é" * 30, "会话/" * 40])
def test_the_server_agrees(db, name):
    assert db.sh_new(name=name, shared=True) == shared_token(name)


def test_a_name_beyond_one_chunk_is_left_to_the_server():
    assert shared_token("x" * 1007) is not None
    assert shared_token("x" * 1008) is None
    assert shared_token("é" * 504) is None  # 1008 bytes in UTF-8

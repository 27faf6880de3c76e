"""Authentication (docs/PROTOCOL.md 2.6): credentials in the URL, or sv_auth."""

import asyncio

import pytest

import sessiondb


def test_sv_auth_unlocks_the_connection(auth_server_url):
    with sessiondb.Client(auth_server_url) as db:
        with pytest.raises(sessiondb.SessionDBError) as e:
            db.kv_count()
        assert (e.value.status, e.value.status_name) == (200, "NotAuthenticated")
        with pytest.raises(sessiondb.SessionDBError) as e:
            db.sv_auth("wrong")
        assert e.value.status_name == "AuthFailed"
        db.sv_auth("s3cr@t")
        assert db.kv_count() == 0


def test_secret_in_the_url(auth_server_url):
    url = auth_server_url.replace("ws://", "ws://anyone:s3cr%40t@")
    with sessiondb.Client(url) as db:
        assert db.kv_count() == 0

    async def main():
        async with sessiondb.AsyncClient(url) as db:
            return await db.kv_count()
    assert asyncio.run(main()) == 0

    with pytest.raises(sessiondb.DisconnectedError):
        sessiondb.Client(auth_server_url.replace("ws://", "ws://anyone:nope@"))

"""The thread pool, sh_touch, and tokens above 2^63 through every path."""

import asyncio
import threading
import time

import pytest

import sessiondb

SETTINGS_TOKEN = 15900886249489855254  # docs/PROTOCOL.md 8.3: the shared session "settings"


# ----- pool -----

def test_pool_serves_many_threads_on_few_connections(db, server_url):
    with sessiondb.ClientPool(server_url, size=3) as pool:
        errors = []
        results = {}

        def worker(n):
            try:
                tkn = pool.sh_new(name=f"w{n}")
                for i in range(20):
                    pool.sh_set(tkn, {"i": i, "n": n})
                    assert pool.sh_get(tkn, ["i", "n"]) == {"i": i, "n": n}
                results[n] = tkn
            except Exception as e:  # collected for the assertion below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert len(set(results.values())) == 8
        assert 1 <= pool.opened <= 3
        assert pool.sh_info_all()["totalSessions"] == 8


def test_pool_lends_each_connection_to_one_borrower(server_url):
    with sessiondb.ClientPool(server_url, size=2) as pool:
        with pool.client() as a, pool.client() as b:
            assert a is not b
            with pytest.raises(TimeoutError):
                with pool.client(wait=0.2):
                    pass
        # Returned connections are reused rather than new ones opened.
        with pool.client() as c:
            assert c in (a, b)
        assert pool.opened == 2
    with pytest.raises(sessiondb.DisconnectedError):
        pool.kv_count()


def test_pool_borrowers_wait_for_a_returned_connection(server_url):
    with sessiondb.ClientPool(server_url, size=1) as pool:
        got = []
        with pool.client() as only:
            waiter = threading.Thread(target=lambda: got.append(pool.kv_count()))
            waiter.start()
            time.sleep(0.1)
            assert got == []  # blocked: the only connection is lent out
        waiter.join(timeout=10)
        assert got and isinstance(got[0], int)
        assert pool.opened == 1
        with pool.client() as again:
            assert again is only


def test_pool_refuses_sv_auth_and_bad_sizes(server_url):
    with pytest.raises(ValueError):
        sessiondb.ClientPool(server_url, size=0)
    with sessiondb.ClientPool(server_url) as pool:
        with pytest.raises(TypeError):
            pool.sv_auth("x")


# ----- sh_touch -----

def test_touch_rearms_a_deadline_its_flags_allow(db):
    # 60 s sessions and a 2.1 s wait: "re-armed" (>= 58 s left) and "not re-armed" (<= 57 s)
    # stay apart unless the machine stalls for 2 s between the touch and the read.
    on_get = db.sh_new(60, extend_on_get=True)
    on_set = db.sh_new(60, extend_on_set_add=True)
    db.sh_set(on_set, {"a": 1})
    fixed = db.sh_new(60)
    forever = db.sh_new()
    time.sleep(2.1)
    before = {t: db.sh_info(t)["expiry"]["remaining"] for t in (on_get, on_set, fixed)}
    assert all(r <= 57 for r in before.values()), before
    assert db.sh_touch(on_get) is True
    assert db.sh_touch(on_set) is True
    assert db.sh_touch(fixed) is False
    assert db.sh_touch(forever) is False
    assert db.sh_info(on_get)["expiry"]["remaining"] >= 58
    assert db.sh_info(on_set)["expiry"]["remaining"] >= 58
    assert db.sh_info(fixed)["expiry"]["remaining"] <= 57
    assert db.sh_get(on_set, ["a"]) == {"a": 1}  # touching changes no key
    with pytest.raises(sessiondb.SessionDBError) as e:
        db.sh_touch(1234)
    assert e.value.status == 100


def test_async_touch(server_url):
    async def main():
        async with sessiondb.AsyncClient(server_url) as db:
            tkn = await db.sh_new(60, extend_on_get=True)
            assert await db.sh_touch(tkn) is True
            assert await db.sh_touch(await db.sh_new()) is False
    asyncio.run(main())


# ----- tokens above 2^63 -----

def test_tokens_above_2_63_are_exact_everywhere(db, server_url):
    tkn = db.sh_new(name="settings", shared=True)
    assert tkn == SETTINGS_TOKEN and tkn > 2**63 and type(tkn) is int
    db.sh_set(tkn, {"me": tkn})
    assert db.sh_get(tkn, ["me"]) == {"me": SETTINGS_TOKEN}
    assert db.sh_info(tkn)["tkn"] == SETTINGS_TOKEN
    assert db.sh_exists([tkn, tkn - 1, tkn + 1]) == [SETTINGS_TOKEN]
    assert db.sh_open("settings") == SETTINGS_TOKEN
    # One past the nearest double would be lost by any float conversion on the way.
    assert float(tkn) != tkn
    assert db.request_text(f'{{"SH_COUNT":{{"tkn":{tkn}}}}}') == '{"SH_COUNT_RSP":{"st":1,"cnt":1}}'
    with sessiondb.ClientPool(server_url, size=1) as pool:
        assert pool.sh_info(tkn)["tkn"] == SETTINGS_TOKEN

    async def main():
        async with sessiondb.AsyncClient(server_url) as adb:
            assert await adb.sh_open("settings") == SETTINGS_TOKEN
            assert await adb.sh_get(tkn, ["me"]) == {"me": SETTINGS_TOKEN}
    asyncio.run(main())


def test_random_tokens_above_2_63_round_trip(db):
    # Random tokens are uniform u64s: one above 2^63 comes within a few tries.
    for _ in range(64):
        tkn = db.sh_new()
        if tkn > 2**63:
            break
    assert tkn > 2**63
    db.sh_set(tkn, {"a": 1})
    assert db.sh_info(tkn)["tkn"] == tkn
    assert db.sh_exists([tkn]) == [tkn]

"""The asyncio client: pipelining from many tasks, errors, context manager, disconnects."""

import asyncio

import pytest

import sessiondb


def run(coro):
    return asyncio.run(coro)


def test_pipelined_tasks_get_their_own_replies(server_url):
    async def main():
        async with sessiondb.AsyncClient(server_url) as db:
            await db.sh_end_all()
            tkns = await asyncio.gather(*(db.sh_new(name=f"s{i}") for i in range(50)))
            assert len(set(tkns)) == 50
            await asyncio.gather(*(db.sh_set(t, {"i": i}) for i, t in enumerate(tkns)))
            got = await asyncio.gather(*(db.sh_get(t, ["i"]) for t in tkns))
            assert got == [{"i": i} for i in range(50)]
            infos = await asyncio.gather(*(db.sh_info(t) for t in tkns))
            assert [info["name"] for info in infos] == [f"s{i}" for i in range(50)]
            assert await db.sh_end_all() == 50
    run(main())


def test_failures_do_not_disturb_neighbours(server_url):
    async def main():
        async with sessiondb.AsyncClient(server_url) as db:
            await db.kv_clear()
            results = await asyncio.gather(
                db.kv_set({"a": 1}), db.sh_count(1234), db.kv_get(["a"]), db.kv_rmv([]),
                db.kv_count(), return_exceptions=True)
            assert results[0] is None
            assert isinstance(results[1], sessiondb.SessionDBError) and results[1].status == 100
            assert results[2] == {"a": 1}
            assert isinstance(results[3], sessiondb.SessionDBError) and results[3].status == 42
            assert results[4] == 1
    run(main())


def test_raw_request_and_connect_classmethod(server_url):
    async def main():
        db = await sessiondb.AsyncClient.connect(server_url)
        try:
            assert await db.request({"FOO_BAR": {}}) == {"FOO_BAR_RSP": {"st": 10}}
            assert (await db.sv_info())["persistEnabled"] is True
        finally:
            await db.close()
        with pytest.raises(sessiondb.DisconnectedError):
            await db.kv_count()
    run(main())


def test_cancelled_request_keeps_replies_matched(server_url):
    async def main():
        async with sessiondb.AsyncClient(server_url) as db:
            await db.kv_clear_set({"x": 1})
            slow = asyncio.ensure_future(db.kv_get(["x"]))
            slow.cancel()
            assert await db.kv_count() == 1
            assert await db.kv_get(["x"]) == {"x": 1}
    run(main())

"""The synchronous client against the real server: every command, errors, values, tokens."""

import pytest

import sessiondb
from sessiondb import SessionDBError

SETTINGS_TOKEN = 15900886249489855254  # docs/PROTOCOL.md 8.3 test vector for "settings"


def test_top_level_keys(db):
    assert db.kv_set({"user:1": {"name": "Ann", "age": 31}, "visits": 7}) is None
    db.kv_add({"visits": 100, "theme": "dark"})
    assert db.kv_get(["user:1", "visits", "nope", "visits"]) == {
        "user:1": {"name": "Ann", "age": 31}, "visits": 7}
    assert db.kv_contains(["visits", "nope", "theme", "visits"]) == ["visits", "theme", "visits"]
    assert db.kv_count() == 3
    assert sorted(db.kv_keys()) == ["theme", "user:1", "visits"]
    db.kv_rmv(["theme", "nope"])
    assert db.kv_count() == 2
    assert db.kv_clear_set({"a": 1, "b": [True, None]}) == 2
    assert db.kv_clear() == 2
    assert db.kv_clear() == 0


def test_values_round_trip_exactly(db):
    values = {"big": 2**64 - 1, "neg": -2**63, "f": 1.0, "s": "café \u2603", "o": {"b": 1, "a": 2},
              "n": None, "l": [1, [2, [3]]], "": "empty key"}
    db.kv_set(values)
    got = db.kv_get(list(values))
    assert got == values
    assert isinstance(got["f"], float)
    assert list(got["o"]) == ["b", "a"]  # member order of stored objects is kept


def test_session_lifecycle(db):
    tkn = db.sh_new()
    assert isinstance(tkn, int) and tkn > 0
    db.sh_set(tkn, {"a": 10, "b": "x"})
    db.sh_add(tkn, {"a": 99, "c": [1, 2]})
    assert db.sh_get(tkn, ["a", "c", "zz"]) == {"a": 10, "c": [1, 2]}
    assert db.sh_contains(tkn, ["a", "q", "c"]) == ["a", "c"]
    assert db.sh_count(tkn) == 3
    assert sorted(db.sh_keys(tkn)) == ["a", "b", "c"]
    db.sh_rmv(tkn, ["c"])
    assert db.sh_clear_set(tkn, {"z": 1}) == 2
    assert db.sh_clear(tkn) == 1
    assert db.kv_get(["a"]) == {}  # the top-level store is separate
    info = db.sh_info(tkn)
    assert info == {"tkn": tkn, "shared": False, "keyCnt": 0, "expires": False}
    assert db.sh_exists([tkn, 1, tkn]) == [tkn, tkn]
    db.sh_end(tkn)
    assert db.sh_exists([tkn]) == []


def test_expiring_named_session_info(db):
    tkn = db.sh_new(600, delete_session=True, extend_on_get=True, name="basket-77")
    info = db.sh_info(tkn)
    assert info["name"] == "basket-77"
    assert info["expires"] is True
    expiry = info["expiry"]
    assert expiry["duration"] == 600 and 599 <= expiry["remaining"] <= 600
    assert expiry["deleteSession"] is True and expiry["extendOnGet"] is True
    assert expiry["extendOnSetAdd"] is False


def test_shared_sessions(db):
    tkn = db.sh_new(name="settings", shared=True)
    assert tkn == SETTINGS_TOKEN
    assert db.sh_open("settings") == SETTINGS_TOKEN
    with pytest.raises(SessionDBError) as e:
        db.sh_new(name="settings", shared=True)
    assert (e.value.status, e.value.status_name) == (103, "SessionNewFail")
    with pytest.raises(SessionDBError) as e:
        db.sh_open("nobody")
    assert e.value.status == 102
    assert db.sh_info_all() == {"totalSessions": 1, "totalKeys": 0}
    assert db.sh_end_all() == 1


def test_errors_carry_status_and_name(db):
    with pytest.raises(SessionDBError) as e:
        db.sh_get(1234, ["a"])
    assert e.value.status == 100
    assert e.value.status_name == "SessionNotExist"
    assert e.value.reply == "SH_GET_RSP"
    assert str(e.value).startswith("SessionNotExist (100)")
    assert not e.value.retryable
    with pytest.raises(SessionDBError) as e:
        db.kv_rmv([])
    assert (e.value.status, e.value.status_name) == (42, "ValueSize")
    with pytest.raises(SessionDBError) as e:
        db.kv_save("../etc")
    assert e.value.status == 41
    with pytest.raises(TypeError):
        db.kv_set(["not", "a", "dict"])
    with pytest.raises(ValueError):
        db.sh_new(delete_session=True)


def test_save_and_load(db):
    db.kv_set({"sku:1": {"price": 9.5}, "sku:2": {"price": 12}})
    saved = db.kv_save("py-shop-1")
    assert saved["name"] == "py-shop-1" and saved["duration"] >= 0
    db.kv_clear()
    loaded = db.kv_load("py-shop-1")
    assert (loaded["name"], loaded["keys"], loaded["sessions"]) == ("py-shop-1", 2, 0)
    assert db.kv_get(["sku:1"]) == {"sku:1": {"price": 9.5}}

    tkn = db.sh_new(name="keep")
    db.sh_set(tkn, {"a": 10, "b": "x"})
    db.sh_save("py-sessions-1", [tkn])
    db.sh_end_all()
    assert db.sh_load("py-sessions-1") == {"name": "py-sessions-1", "sessions": 1, "keys": 2}
    assert db.sh_get(tkn, ["a", "b"]) == {"a": 10, "b": "x"}
    with pytest.raises(SessionDBError) as e:
        db.sh_load("py-no-such-set")
    assert e.value.status_name == "LoadError"


def test_raw_requests_and_server_info(db):
    assert db.request({"KV_NOPE": {}}) == {"ERR": {"st": 10}}
    assert db.request_text('{"SH_NOPE":{}}') == '{"SH_NOPE_RSP":{"st":10}}'
    replies = db.pipeline_text(['{"KV_SET":{"keys":{"a":1}}}', '{"KV_GET":{"keys":["a"]}}',
                                '{"KV_COUNT":{}}'])
    assert [sessiondb._protocol.parse_reply(r) for r in replies] == [
        ("KV_SET_RSP", {"st": 1}), ("KV_GET_RSP", {"st": 1, "keys": {"a": 1}}),
        ("KV_COUNT_RSP", {"st": 1, "cnt": 1})]
    info = db.sv_info()
    assert isinstance(info["serverVersion"], str)
    assert info["persistEnabled"] is True


def test_connection_errors(server_url):
    client = sessiondb.Client(server_url)
    client.close()
    with pytest.raises(sessiondb.DisconnectedError):
        client.kv_count()
    with pytest.raises(sessiondb.DisconnectedError):
        sessiondb.Client("ws://127.0.0.1:1", open_timeout=2)


def test_key_deadlines(db):
    tkn = db.sh_new()
    db.sh_set(tkn, {"user": "ann", "otp": "123456"}, ttl={"otp": 300})
    db.sh_add(tkn, {"otp": "0", "csrf": "n1"}, ttl={"otp": 5, "csrf": 60})
    left = db.sh_key_remaining(tkn, ["otp", "user", "csrf", "nope"])
    assert left["user"] is None and left["otp"] in (299, 300) and left["csrf"] in (59, 60)
    assert sorted(left) == ["csrf", "otp", "user"]
    assert db.sh_key_ttl(tkn, {"otp": None, "gone": 5}) == 1
    assert db.sh_key_remaining(tkn, "otp") == {"otp": None}
    with pytest.raises(SessionDBError) as e:
        db.sh_set(tkn, {"a": 1}, ttl={"b": 5})
    assert e.value.status == 41
    with pytest.raises(TypeError):
        db.sh_set(tkn, {"a": 1}, ttl=[("a", 5)])
    assert db.sh_count(tkn) == 3


def test_versions_and_owners(db):
    a = db.sh_new(owner="alice", name="laptop")
    b = db.sh_new(owner="alice")
    assert db.sh_info(a) == {"tkn": a, "shared": False, "keyCnt": 0, "expires": False,
                             "name": "laptop", "owner": "alice"}
    values, ver = db.sh_get_versioned(a, ["visits"])
    assert (values, ver) == ({}, 1)
    assert db.sh_set_if_ver(a, {"visits": 1}, ver) == 2
    with pytest.raises(sessiondb.VersionMismatchError) as e:
        db.sh_set_if_ver(a, {"visits": 9}, ver)
    assert (e.value.status, e.value.status_name, e.value.ver) == (190, "VersionMismatch", 2)
    assert db.sh_get_versioned(a, ["visits"]) == ({"visits": 1}, 2)
    assert db.sh_owner_list("alice") == sorted([a, b])
    assert db.sh_owner_end("alice") == 2
    assert db.sh_owner_list("alice") == []
    with pytest.raises(SessionDBError) as e:
        db.sh_owner_end("")
    assert e.value.status == 42

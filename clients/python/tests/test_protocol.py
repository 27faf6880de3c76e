"""Request building and reply parsing, without a server."""

import json

import pytest

from sessiondb import SessionDBError, status_name
from sessiondb._protocol import Call, Commands, ProtocolError, finish, parse_reply


class Recorder(Commands):
    def _execute(self, call):
        return call


def test_requests_are_compact_and_exact():
    r = Recorder()
    assert r.sh_new().text() == '{"SH_NEW":{}}'
    assert json.loads(r.sh_new(60, delete_session=True).text()) == {"SH_NEW": {"expiry": {
        "duration": 60, "deleteSession": True, "extendOnSetAdd": False, "extendOnGet": False}}}
    assert r.sh_set(16351792548006066062, {"a": 1}).text() == \
        '{"SH_SET":{"tkn":16351792548006066062,"keys":{"a":1}}}'
    assert r.kv_get("a").text() == '{"KV_GET":{"keys":["a"]}}'
    assert r.sh_save("n", [1, 2]).text() == '{"SH_SAVE":{"name":"n","tkns":[1,2]}}'
    with pytest.raises(ValueError):
        r.kv_set({"nan": float("nan")}).text()
    with pytest.raises(TypeError):
        r.sh_get("123", ["a"])


def test_finish_checks_the_success_status():
    save = Call("KV_SAVE", {"name": "a"}, 121, lambda b: b["name"])
    assert finish(save, '{"KV_SAVE_RSP":{"st":121,"name":"a","duration":1}}') == "a"
    with pytest.raises(SessionDBError) as e:
        finish(save, '{"KV_SAVE_RSP":{"st":14,"m":"persistence is disabled"}}')
    assert (e.value.status, e.value.status_name) == (14, "CommandDisabled")
    assert str(e.value) == "CommandDisabled (14): persistence is disabled"
    assert status_name(999) == "Unrecognised"
    assert SessionDBError(1000).retryable


@pytest.mark.parametrize("text", ["", "[]", "{}", '{"A":{"st":1},"B":{"st":1}}', '{"A":1}',
                                  '{"A":{}}', '{"A":{"st":true}}', '{"A":{"st":-1}}'])
def test_malformed_replies(text):
    with pytest.raises(ProtocolError):
        parse_reply(text)

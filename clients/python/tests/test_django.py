"""The Django session engine, through Django's own test client and SessionStore, on the real server."""

import time
from datetime import timedelta

import django
import pytest
from django.conf import settings

import django_site

if not settings.configured:
    settings.configure(**django_site.SETTINGS)
    django.setup()

from django.contrib.sessions.backends.base import CreateError, UpdateError  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

import sessiondb.django  # noqa: E402
from sessiondb.django import SessionStore  # noqa: E402

TWO_WEEKS = 14 * 24 * 60 * 60  # Django's default SESSION_COOKIE_AGE


@pytest.fixture
def store(db, server_url):
    """The engine pointed at the test server, on an empty store; yields a sync client on it."""
    with override_settings(SESSIONDB_URL=server_url):
        yield db


def session_of(db, key):
    """Token, data and expiry settings of the sessiondb session behind a Django session key."""
    tkn = db.sh_open("django:" + key)
    return tkn, db.sh_get(tkn, ["data"]).get("data"), db.sh_info(tkn)["expiry"]


def is_live(db, key):
    try:
        db.sh_open("django:" + key)
    except sessiondb.SessionDBError as e:
        assert e.status == 102
        return False
    return True


def saved_session(data):
    """The key of a new session saved with ``data``."""
    session = SessionStore()
    session.update(data)
    session.save()
    return session.session_key


def test_login_counter_logout(store):
    browser = DjangoClient()
    assert browser.post("/login", {"user": "ann"}).json() == {"user": "ann"}
    key = browser.cookies["sessionid"].value
    _, data, expiry = session_of(store, key)
    assert data == {"user": "ann"}
    assert (expiry["duration"], expiry["deleteSession"], expiry["extendOnSetAdd"]) == (
        TWO_WEEKS, True, True)

    assert browser.get("/counter").json() == {"user": "ann", "count": 1}
    assert browser.get("/counter").json() == {"user": "ann", "count": 2}
    assert session_of(store, key)[1] == {"user": "ann", "count": 2}

    response = browser.get("/logout")
    assert response.cookies["sessionid"].value == ""
    assert response.cookies["sessionid"]["max-age"] == 0
    assert not is_live(store, key)
    assert browser.get("/counter").json() == {"user": None, "count": 1}
    assert browser.cookies["sessionid"].value != key


def test_login_gives_a_new_key_and_keeps_the_data(store):
    browser = DjangoClient()
    browser.get("/counter")
    before = browser.cookies["sessionid"].value
    browser.post("/login", {"user": "bob"})
    after = browser.cookies["sessionid"].value
    assert after != before
    assert not is_live(store, before)
    assert session_of(store, after)[1] == {"count": 1, "user": "bob"}


# The last one is too long for the client to derive its token: the server is asked.
@pytest.mark.parametrize("planted", ["chosen-by-an-attacker", "é" * 3000])
def test_a_key_the_store_does_not_know_is_replaced(store, planted):
    browser = DjangoClient()
    browser.cookies["sessionid"] = planted
    assert browser.get("/counter").json() == {"user": None, "count": 1}
    assert browser.cookies["sessionid"].value != planted
    assert not is_live(store, planted)


def test_the_server_expires_the_session(store):
    with override_settings(SESSION_COOKIE_AGE=1):
        browser = DjangoClient()
        browser.post("/login", {"user": "cy"})
        key = browser.cookies["sessionid"].value
        assert session_of(store, key)[2]["duration"] == 1
        time.sleep(1.2)
        assert not is_live(store, key)
        assert browser.get("/counter").json() == {"user": None, "count": 1}
        assert browser.cookies["sessionid"].value != key


def test_must_create_refuses_a_taken_key(store):
    first = SessionStore()
    first["owner"] = "first"
    first.create()
    first.save()
    second = SessionStore(first.session_key)
    second["owner"] = "second"
    with pytest.raises(CreateError):
        second.save(must_create=True)
    assert session_of(store, first.session_key)[1] == {"owner": "first"}


def test_create_draws_again_when_the_key_is_taken(store, monkeypatch):
    taken = SessionStore()
    taken.create()
    keys = iter([taken.session_key, "freshkey" * 4])
    monkeypatch.setattr(sessiondb.django, "get_random_string", lambda *args: next(keys))
    new = SessionStore()
    new.create()
    assert new.session_key == "freshkey" * 4
    assert is_live(store, taken.session_key) and is_live(store, new.session_key)


def test_exists_delete_and_clear_expired(store):
    key = saved_session({"a": 1})
    assert SessionStore().exists(key)
    assert not SessionStore().exists("no-such-key-at-all")
    SessionStore.clear_expired()
    assert SessionStore(key).load() == {"a": 1}
    SessionStore().delete(key)
    assert not SessionStore().exists(key)
    SessionStore().delete(key)  # deleting twice is no error


def test_set_expiry_sets_the_server_expiry(store):
    key = saved_session({"a": 1})

    session = SessionStore(key)
    session.set_expiry(300)
    session.save()
    _, data, expiry = session_of(store, key)
    assert (data, expiry["duration"], expiry["extendOnSetAdd"]) == (
        {"a": 1, "_session_expiry": 300}, 300, True)

    # A date stays put: the session is not re-armed by later saves.
    session = SessionStore(key)
    session.set_expiry(timedelta(seconds=100))
    session.save()
    _, data, expiry = session_of(store, key)
    assert data["a"] == 1
    assert expiry["extendOnSetAdd"] is False
    assert expiry["remaining"] in (98, 99, 100)
    tkn = store.sh_open("django:" + key)
    session = SessionStore(key)
    session["b"] = 2
    session.save()
    assert store.sh_open("django:" + key) == tkn  # fits already: stored in place
    assert session_of(store, key)[1]["b"] == 2


def test_a_save_after_a_concurrent_logout_is_refused(store):
    key = saved_session({"a": 1})
    mine = SessionStore(key)
    mine["b"] = 2
    assert mine.load() == {"a": 1}
    SessionStore().delete(key)
    with pytest.raises(UpdateError):
        mine.save()
    assert not is_live(store, key)


@pytest.mark.skipif(django.VERSION < (5, 0), reason="Django 5.0 added the async session methods")
def test_async_methods(store):
    from asgiref.sync import async_to_sync

    session = SessionStore()
    session["a"] = 1
    async_to_sync(session.asave)()
    assert async_to_sync(SessionStore(session.session_key).aload)() == {"a": 1}
    assert async_to_sync(session.aexists)(session.session_key)


def test_a_name_too_long_to_derive_is_looked_up(store):
    # Past one BLAKE3 chunk the client cannot compute the token and asks the server (SH_OPEN).
    with override_settings(SESSIONDB_KEY_PREFIX="p" * 1000):
        key = saved_session({"a": 1})
        assert SessionStore(key).load() == {"a": 1}
        assert SessionStore().exists(key)
        again = SessionStore(key)
        again["b"] = 2
        again.save()
        assert store.sh_get(store.sh_open("p" * 1000 + key), ["data"]) == {"data": {"a": 1, "b": 2}}
        SessionStore().delete(key)
        assert not SessionStore().exists(key)

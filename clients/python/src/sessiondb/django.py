"""A Django session engine on sessiondb: ``SESSION_ENGINE = "sessiondb.django"``.

Each Django session is a shared sessiondb session named ``SESSIONDB_KEY_PREFIX + session_key``
(``"django:" + key`` by default), so any process finds it by its cookie's key. The client derives
the token from the name as the server does (docs/PROTOCOL.md 8.3) and sends the session's
commands at once; only a name too long for that (over 1007 bytes) is looked up with ``SH_OPEN``.
The session's dict is stored as one JSON value under the key ``data``; its values must be
JSON-serialisable, as with Django's default serializer (``SESSION_SERIALIZER`` is not used, as
with Django's cache backend, which hands the dict to the cache as it is).

Expiry belongs to the server: the sessiondb session is created with ``deleteSession`` and a
duration of ``get_expiry_age()`` seconds, so it disappears by itself and ``clear_expired`` has
nothing to do. A relative expiry (the default ``SESSION_COOKIE_AGE``, or ``set_expiry(seconds)``)
is re-armed by every save (``extendOnSetAdd``); an absolute one (``set_expiry(datetime)``) is not.
When a save needs other expiry settings than the session has, the session is ended and created
again under the same name.

Settings (all optional):

* ``SESSIONDB_URL``: the server, ``"ws://127.0.0.1:1987"`` by default (``ws://any:SECRET@host:port``
  for a server with ``--auth-secret``);
* ``SESSIONDB_TIMEOUT``: seconds each request waits for its reply (10);
* ``SESSIONDB_POOL_SIZE``: connections shared by the process's threads (4);
* ``SESSIONDB_KEY_PREFIX``: prefix of the shared-session names (``"django:"``).
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional

from django.conf import settings
from django.contrib.sessions.backends.base import (
    VALID_KEY_CHARS,
    CreateError,
    SessionBase,
    UpdateError,
)
from django.core.signals import setting_changed
from django.utils.crypto import get_random_string

from ._protocol import Call, Commands, SessionDBError, finish
from ._shared_token import shared_token
from .client import DEFAULT_TIMEOUT, DEFAULT_URL
from .pool import ClientPool

DEFAULT_KEY_PREFIX = "django:"
DEFAULT_POOL_SIZE = 4

#: The sessiondb key that holds a Django session's dict.
DATA_KEY = "data"

# Statuses that mean "no such session" for a name (SH_OPEN), a new shared name (SH_NEW) and a token.
_NO_SUCH_NAME, _NAME_TAKEN, _NO_SUCH_SESSION = 102, 103, 100

_pool: Optional[ClientPool] = None
_pool_lock = threading.Lock()


def connection() -> ClientPool:
    """The process's pool of connections to ``SESSIONDB_URL``, opened on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ClientPool(
                getattr(settings, "SESSIONDB_URL", DEFAULT_URL),
                size=getattr(settings, "SESSIONDB_POOL_SIZE", DEFAULT_POOL_SIZE),
                timeout=getattr(settings, "SESSIONDB_TIMEOUT", DEFAULT_TIMEOUT))
        return _pool


def close_connection() -> None:
    """Closes the pool; the next session access opens a new one with the current settings."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # override_settings in tests may point the engine at another server.
    if setting.startswith("SESSIONDB_"):
        close_connection()


setting_changed.connect(_settings_changed)


class _Calls(Commands):
    """Builds the client's requests without sending them, to send several in one pipeline."""

    def _execute(self, call: Call) -> Call:
        return call


_CALLS = _Calls()


def _pipeline(calls: List[Call]) -> List[Any]:
    """Sends every call before reading any reply, on one connection; raises the first failure."""
    with connection().client() as client:
        replies = client.pipeline_text([call.text() for call in calls])
    return [finish(call, reply) for call, reply in zip(calls, replies)]


class SessionStore(SessionBase):
    """Django's ``SessionBase`` contract on a shared sessiondb session named after the key."""

    def __init__(self, session_key: Optional[str] = None):
        super().__init__(session_key)
        # The token and expiry settings of the sessiondb session behind this key, once known;
        # they spare a save the lookups that the load already made.
        self._token: Optional[int] = None
        self._expiry: Optional[Dict[str, Any]] = None

    @staticmethod
    def _name(session_key: str) -> str:
        return getattr(settings, "SESSIONDB_KEY_PREFIX", DEFAULT_KEY_PREFIX) + session_key

    def _open(self, session_key: str) -> Optional[int]:
        """The token of the session behind ``session_key``: derived from its name when the name
        allows (no request), else asked of the server; None if the server knows none."""
        name = self._name(session_key)
        tkn = shared_token(name)
        if tkn is not None:
            return tkn
        try:
            return connection().sh_open(name)
        except SessionDBError as e:
            if e.status == _NO_SUCH_NAME:
                return None
            raise

    def _lookup(self, session_key: str, with_data: bool = False) -> Optional[List[Any]]:
        """``[token, info]`` of the live session with this key (``[token, info, keys]`` with
        its data: ``SH_GET`` and ``SH_INFO`` go in one pipeline), or None if there is none."""
        tkn = self._open(session_key)
        if tkn is None:
            return None
        try:
            first = [_CALLS.sh_get(tkn, [DATA_KEY])] if with_data else []
            *results, info = _pipeline([*first, _CALLS.sh_info(tkn)])
        except SessionDBError as e:
            if e.status == _NO_SUCH_SESSION:  # never made, expired, or ended
                return None
            raise
        # A derived token names this key's session only if the session is shared under this
        # name (any other session with that token would be a 2^-64 accident, but costs nothing
        # to rule out).
        if not info.get("shared") or info.get("name") != self._name(session_key):
            return None
        return [tkn, info, *results]

    def exists(self, session_key: Optional[str]) -> bool:
        """Whether a live session has this key."""
        if not session_key:
            return False
        return self._lookup(session_key) is not None

    def load(self) -> Dict[str, Any]:
        """The session's dict; an unknown or expired key gets a new key at the next save."""
        found = self._lookup(self.session_key, with_data=True) if self.session_key else None
        if found is not None:
            self._token, info, keys = found
            self._expiry = info.get("expiry")
            # A session created empty has no data key until something is stored.
            data = keys.get(DATA_KEY, {})
            return data if isinstance(data, dict) else {}
        # As Django's own backends do: a key the store does not know is not reused, so a client
        # cannot choose its session key (session fixation).
        self._session_key = None
        self._token = self._expiry = None
        return {}

    def create(self) -> None:
        """Saves a new empty session under a new key that no live session has."""
        while True:
            # The shared SH_NEW refuses a name that is taken, so there is no need to ask first.
            self._session_key = get_random_string(32, VALID_KEY_CHARS)
            try:
                self.save(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return

    def save(self, must_create: bool = False) -> None:
        """Stores the dict. ``must_create``: raises CreateError if the key is taken; otherwise
        raises UpdateError if the session ended meanwhile (Django then reports the interruption)."""
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        if must_create:
            self._create_session(self.session_key, data)
            return
        if self._token is None:
            found = self._lookup(self.session_key)
            if found is None:
                raise UpdateError
            self._token, self._expiry = found[0], found[1].get("expiry")
        wanted = self._wanted_expiry()
        if not self._expiry_fits(wanted):
            # No command changes a live session's expiry: the session is made again with it.
            self._end(self._token)
            try:
                self._create_session(self.session_key, data)
            except CreateError:
                raise UpdateError from None  # another request made it again meanwhile
            return
        try:
            connection().sh_set(self._token, {DATA_KEY: data})
        except SessionDBError as e:
            if e.status == _NO_SUCH_SESSION:
                raise UpdateError from None
            raise

    def delete(self, session_key: Optional[str] = None) -> None:
        """Ends the session with ``session_key`` (by default this one's)."""
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        if session_key == self.session_key and self._token is not None:
            tkn: Optional[int] = self._token
            self._token = self._expiry = None
        else:
            tkn = self._open(session_key)
        if tkn is not None:
            self._end(tkn)

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: the server deletes each session at its deadline."""

    def _wanted_expiry(self) -> Dict[str, Any]:
        """The sessiondb expiry settings that match ``get_expiry_age()`` from now."""
        # Duration 0 would mean "never expires": a session already due lives one more second.
        duration = max(1, self.get_expiry_age())
        # A date (set_expiry with a datetime or timedelta) is stored as an ISO string: it stays put.
        absolute = isinstance(self.get("_session_expiry"), str)
        return {"duration": duration, "extendOnSetAdd": not absolute}

    def _expiry_fits(self, wanted: Dict[str, Any]) -> bool:
        have = self._expiry
        if not isinstance(have, dict) or have.get("extendOnSetAdd") != wanted["extendOnSetAdd"]:
            return False
        if wanted["extendOnSetAdd"]:
            # The save re-arms the session to now + its duration.
            return have.get("duration") == wanted["duration"]
        # The deadline stays where it is; one second of rounding is tolerated.
        remaining = have.get("remaining")
        return isinstance(remaining, int) and abs(remaining - wanted["duration"]) <= 1

    def _create_session(self, session_key: str, data: Dict[str, Any]) -> None:
        wanted = self._wanted_expiry()
        try:
            tkn = connection().sh_new(
                wanted["duration"], delete_session=True,
                extend_on_set_add=wanted["extendOnSetAdd"], name=self._name(session_key),
                shared=True)
        except SessionDBError as e:
            if e.status == _NAME_TAKEN:
                raise CreateError from None
            raise
        self._token = tkn
        self._expiry = {"duration": wanted["duration"], "remaining": wanted["duration"],
                        "extendOnSetAdd": wanted["extendOnSetAdd"]}
        # A new session holds no keys; load() reads a session without data as an empty dict.
        if data:
            connection().sh_set(tkn, {DATA_KEY: data})

    @staticmethod
    def _end(tkn: int) -> None:
        try:
            connection().sh_end(tkn)
        except SessionDBError as e:
            if e.status != _NO_SUCH_SESSION:  # already ended or expired: the aim is met
                raise

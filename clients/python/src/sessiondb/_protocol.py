"""Request building, reply parsing and errors shared by the sync and async clients (docs/PROTOCOL.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional

#: Status names from docs/PROTOCOL.md section 5.
STATUS_NAMES: Dict[int, str] = {
    1: "Ok", 2: "OpCodeInvalid", 3: "JsonInvalid", 4: "PathInvalid", 5: "NoPath",
    10: "CommandNotExist", 11: "CommandMultiple", 12: "CommandType", 13: "CommandSyntax",
    14: "CommandDisabled", 22: "NotExist", 26: "ParamMissing", 40: "ValueMissing",
    41: "ValueTypeInvalid", 42: "ValueSize", 100: "SessionNotExist", 101: "SessionTokenInvalid",
    102: "SessionOpenFail", 103: "SessionNewFail", 120: "SaveStart", 121: "SaveComplete",
    122: "SaveDirWriteFail", 123: "SaveError", 140: "Loading", 141: "LoadComplete",
    142: "LoadError", 160: "Duplicate", 161: "Bounds", 170: "LimitReached",
    190: "VersionMismatch", 200: "NotAuthenticated", 201: "AuthFailed", 1000: "Unknown",
}

OK, SAVE_COMPLETE, LOAD_COMPLETE = 1, 121, 141
#: ``ifVer`` named another version than the session's (docs/PROTOCOL.md E10).
VERSION_MISMATCH = 190

# Failures that may go away when the same request is sent again later: save I/O errors,
# configured limits, internal failures. Everything else is decided by the request or the data.
_RETRYABLE = {122, 123, 170, 1000}


def status_name(status: int) -> str:
    """The docs/PROTOCOL.md name of a status code, or ``"Unrecognised"``."""
    return STATUS_NAMES.get(status, "Unrecognised")


class SessionDBError(Exception):
    """The server answered with a failure status.

    ``status`` is the code (int), ``status_name`` its name (``"SessionNotExist"``), ``reply`` the
    reply's name (``"SH_GET_RSP"`` or ``"ERR"``), ``body`` the whole reply body.
    """

    def __init__(self, status: int, reply: str = "", body: Optional[dict] = None):
        self.status = status
        self.status_name = status_name(status)
        self.reply = reply
        self.body = body or {"st": status}
        message = self.body.get("m")
        text = f"{self.status_name} ({status})"
        if isinstance(message, str):
            text += f": {message}"
        super().__init__(text)

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again later may succeed."""
        return self.status in _RETRYABLE


class VersionMismatchError(SessionDBError):
    """A write with ``if_ver`` found the session at another version (status 190); nothing changed.

    ``ver`` is the session's version: read the session again, then retry the write with it.
    """

    def __init__(self, reply: str, body: dict):
        super().__init__(VERSION_MISMATCH, reply, body)
        self.ver = body.get("ver")


class DisconnectedError(ConnectionError):
    """No usable connection: it could not be opened, or it closed and was not reopened."""


class ConnectionLostError(DisconnectedError):
    """The connection dropped while this request was in flight: it may or may not have run.

    Raised for writes (and for reads once their retries are used up); a write is never sent a
    second time by the client, because running it twice could differ from running it once. The
    client reconnects on the next call. ``command`` is the request's command name.
    """

    def __init__(self, message: str, command: str = ""):
        super().__init__(message)
        self.command = command


class RequestTimeoutError(DisconnectedError, TimeoutError):
    """No reply came within the request timeout. The request may or may not have run.

    The connection is closed (a late reply would otherwise be taken for the next request's) and is
    reopened by the next call.
    """


class InvalidURLError(ValueError):
    """The URL is not a ``ws://`` or ``wss://`` URL; the message says what to use instead."""


class ProtocolError(Exception):
    """The server sent something that is not a well-formed reply."""


@dataclass
class Call:
    """One command: what to send, which status means success, and how to read the result."""

    command: str
    body: dict
    success: int = OK
    extract: Callable[[dict], Any] = lambda body: None
    #: Whether sending it twice has the same effect as sending it once, so that the client may
    #: send it again on a new connection when the first one dropped before the reply.
    idempotent: bool = False

    def text(self) -> str:
        return json.dumps({self.command: self.body}, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)


def parse_reply(text: str) -> "tuple[str, dict]":
    """Splits a reply message into its name and body; raises ProtocolError if malformed."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ProtocolError(f"reply is not JSON: {e}") from None
    if not isinstance(value, dict) or len(value) != 1:
        raise ProtocolError(f"reply is not an object with one member: {text[:200]!r}")
    (name, body), = value.items()
    if not isinstance(body, dict) or not _is_uint(body.get("st")):
        raise ProtocolError(f"reply body has no numeric st: {text[:200]!r}")
    return name, body


def finish(call: Call, text: str) -> Any:
    """Checks the reply to ``call`` and returns its typed result, or raises SessionDBError."""
    name, body = parse_reply(text)
    if body["st"] != call.success:
        if body["st"] == VERSION_MISMATCH:
            raise VersionMismatchError(name, body)
        raise SessionDBError(body["st"], name, body)
    return call.extract(body)


def _is_uint(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _token(tkn: Any) -> int:
    if not _is_uint(tkn):
        raise TypeError(f"a session token is a non-negative int, not {tkn!r}")
    return tkn


def _keys_object(keys: Any) -> dict:
    if not isinstance(keys, dict):
        raise TypeError(f"keys must be a dict, not {type(keys).__name__}")
    return keys


def _write_body(tkn: Any, keys: Any, ttl: Optional[dict]) -> dict:
    """The body of ``SH_SET``/``SH_ADD``: ``ttl`` only when given, so that a plain write is the
    request of the base protocol."""
    body = {"tkn": _token(tkn), "keys": _keys_object(keys)}
    if ttl is not None:
        if not isinstance(ttl, dict):
            raise TypeError(f"ttl must be a dict of key -> seconds, not {type(ttl).__name__}")
        body["ttl"] = ttl
    return body


def _key_list(keys: Iterable[str]) -> List[str]:
    if isinstance(keys, str):
        # A bare string is almost certainly one key, not a list of one-character keys.
        return [keys]
    return list(keys)


def _member(name: str) -> Callable[[dict], Any]:
    return lambda body: body[name]


def _without_st(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "st"}


# Schemes people try by habit, and the WebSocket scheme that replaces each.
_SCHEME_INSTEAD = {"redis": "ws", "rediss": "wss", "http": "ws", "https": "wss", "tcp": "ws",
                   "tls": "wss", "unix": "ws"}


def check_url(url: str) -> str:
    """Returns ``url`` if it is a ws:// or wss:// URL, else raises InvalidURLError saying what to use."""
    if not isinstance(url, str):
        raise InvalidURLError(f"the server URL must be a string like ws://127.0.0.1:1987, not {url!r}")
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("ws", "wss"):
        return url
    if not sep:
        raise InvalidURLError(
            f"{url!r} has no scheme: sessiondb speaks JSON over WebSocket, so use ws://{url} "
            f"(wss://{url} when the server has TLS)")
    instead = _SCHEME_INSTEAD.get(scheme.lower(), "ws")
    raise InvalidURLError(
        f"{scheme}:// URLs are not supported: sessiondb speaks JSON over WebSocket, not the "
        f"{scheme} protocol; use {instead}://{rest} instead (ws:// plain, wss:// with TLS; the "
        f"server's default port is 1987)")


def touch_call(tkn: int, info: dict) -> Optional[Call]:
    """The request that re-arms session ``tkn`` to now + its duration, given its ``sh_info``, or
    None when its settings allow no re-arming.

    The protocol has no command that changes an existing session's expiry; only ``SH_GET`` (with
    ``extendOnGet``) and ``SH_SET``/``SH_ADD`` (with ``extendOnSetAdd``) re-arm it. An empty
    ``SH_GET`` reads nothing and an empty ``SH_SET`` writes nothing, so either only re-arms, and
    sending it twice is the same as once.
    """
    expiry = info.get("expiry") if info.get("expires") else None
    if not isinstance(expiry, dict):
        return None
    if expiry.get("extendOnGet"):
        return Call("SH_GET", {"tkn": _token(tkn), "keys": []}, idempotent=True)
    if expiry.get("extendOnSetAdd"):
        return Call("SH_SET", {"tkn": _token(tkn), "keys": {}}, idempotent=True)
    return None


class Commands:
    """One method per command of docs/PROTOCOL.md, each returning ``self._execute(call)``.

    The sync client executes at once; the async client returns an awaitable.
    """

    def _execute(self, call: Call) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    # ----- top-level keys (docs/PROTOCOL.md section 10) -----

    def kv_set(self, keys: dict):
        """Sets top-level keys, overwriting existing ones."""
        return self._execute(Call("KV_SET", {"keys": _keys_object(keys)}))

    def kv_add(self, keys: dict):
        """Adds top-level keys that do not exist yet; existing keys keep their values."""
        return self._execute(Call("KV_ADD", {"keys": _keys_object(keys)}))

    def kv_get(self, keys: Iterable[str]):
        """Returns a dict of the listed top-level keys that exist."""
        return self._execute(Call("KV_GET", {"keys": _key_list(keys)}, OK, _member("keys"), idempotent=True))

    def kv_rmv(self, keys: Iterable[str]):
        """Removes top-level keys; ``keys`` must not be empty (status 42)."""
        return self._execute(Call("KV_RMV", {"keys": _key_list(keys)}))

    def kv_contains(self, keys: Iterable[str]):
        """Returns the listed top-level keys that exist, in request order."""
        return self._execute(Call("KV_CONTAINS", {"keys": _key_list(keys)}, OK, _member("contains"), idempotent=True))

    def kv_count(self):
        """Number of top-level keys."""
        return self._execute(Call("KV_COUNT", {}, OK, _member("cnt"), idempotent=True))

    def kv_keys(self):
        """Every top-level key, in no particular order."""
        return self._execute(Call("KV_KEYS", {}, OK, _member("keys"), idempotent=True))

    def kv_clear(self):
        """Deletes every top-level key; returns how many were deleted."""
        return self._execute(Call("KV_CLEAR", {}, OK, _member("cnt")))

    def kv_clear_set(self, keys: dict):
        """Replaces the top-level store with ``keys``; returns how many keys were deleted."""
        return self._execute(Call("KV_CLEAR_SET", {"keys": _keys_object(keys)}, OK, _member("cnt")))

    def kv_save(self, name: str):
        """Saves the top-level store as dataset ``name``; returns ``{"name", "duration"}``."""
        return self._execute(Call("KV_SAVE", {"name": name}, SAVE_COMPLETE, _without_st))

    def kv_load(self, name: str):
        """Loads dataset ``name`` into the top-level store; returns the reply body without st."""
        return self._execute(Call("KV_LOAD", {"name": name}, LOAD_COMPLETE, _without_st))

    # ----- sessions (docs/PROTOCOL.md section 11) -----

    def sh_new(self, expiry: Optional[int] = None, *, delete_session: bool = False,
               extend_on_set_add: bool = False, extend_on_get: bool = False,
               name: Optional[str] = None, shared: bool = False, owner: Optional[str] = None):
        """Creates a session and returns its token (int).

        ``expiry`` is a duration in whole seconds (None or 0: never expires); the three flags need it.
        A shared session needs a ``name``; its token derives from the name. ``owner`` (1 to 256
        bytes) files the session under its owner, for ``sh_owner_list`` and ``sh_owner_end``.
        """
        body: Dict[str, Any] = {}
        if expiry is not None:
            body["expiry"] = {
                "duration": _token(expiry),
                "deleteSession": bool(delete_session),
                "extendOnSetAdd": bool(extend_on_set_add),
                "extendOnGet": bool(extend_on_get),
            }
        elif delete_session or extend_on_set_add or extend_on_get:
            raise ValueError("expiry flags need an expiry duration")
        if name is not None:
            body["name"] = name
        if owner is not None:
            body["owner"] = owner
        if shared:
            body["shared"] = True
        return self._execute(Call("SH_NEW", body, OK, _member("tkn")))

    def sh_open(self, name: str):
        """Returns the token of the live shared session ``name`` (status 102 if none)."""
        return self._execute(Call("SH_OPEN", {"name": name}, OK, _member("tkn"), idempotent=True))

    def sh_set(self, tkn: int, keys: dict, *, ttl: Optional[dict] = None):
        """Sets keys in a session, overwriting existing ones.

        ``ttl`` maps keys of ``keys`` to seconds (>= 1): each expires that long from now, while
        the session lives on (a key written without a ``ttl`` loses any deadline it had).
        """
        return self._execute(Call("SH_SET", _write_body(tkn, keys, ttl)))

    def sh_add(self, tkn: int, keys: dict, *, ttl: Optional[dict] = None):
        """Adds keys that do not exist yet in a session; ``ttl`` as for ``sh_set``, for the keys
        it adds (an existing key keeps its value and its deadline)."""
        return self._execute(Call("SH_ADD", _write_body(tkn, keys, ttl)))

    def sh_key_ttl(self, tkn: int, keys: dict):
        """Sets (seconds >= 1) or removes (``None``) deadlines of keys a session holds; returns
        how many of the named keys it holds."""
        return self._execute(
            Call("SH_KEY_TTL", {"tkn": _token(tkn), "keys": _keys_object(keys)}, OK, _member("cnt")))

    def sh_key_remaining(self, tkn: int, keys: Iterable[str]):
        """Returns a dict of whole seconds left per listed key the session holds (``None``: no
        deadline); keys it does not hold are left out."""
        return self._execute(
            Call("SH_KEY_REMAINING", {"tkn": _token(tkn), "keys": _key_list(keys)}, OK,
                 _member("keys"), idempotent=True))

    def sh_get(self, tkn: int, keys: Iterable[str]):
        """Returns a dict of the listed keys that exist in a session."""
        return self._execute(
            Call("SH_GET", {"tkn": _token(tkn), "keys": _key_list(keys)}, OK, _member("keys"), idempotent=True))

    # ----- versions and owners (docs/PROTOCOL.md E10, E11) -----

    def sh_get_versioned(self, tkn: int, keys: Iterable[str]):
        """Like ``sh_get``, with the version the keys were read at: ``(values, ver)``."""
        return self._execute(
            Call("SH_GET", {"tkn": _token(tkn), "keys": _key_list(keys), "withVer": True}, OK,
                 lambda body: (body["keys"], body["ver"]), idempotent=True))

    def sh_set_if_ver(self, tkn: int, keys: dict, ver: int):
        """Sets keys only if the session is still at version ``ver``; returns the new version.

        Raises VersionMismatchError (with the session's ``ver``) if another write came first::

            while True:
                values, ver = db.sh_get_versioned(tkn, ["visits"])
                try:
                    db.sh_set_if_ver(tkn, {"visits": values.get("visits", 0) + 1}, ver)
                    break
                except sessiondb.VersionMismatchError:
                    continue
        """
        body = {"tkn": _token(tkn), "keys": _keys_object(keys), "ifVer": _token(ver)}
        return self._execute(Call("SH_SET", body, OK, _member("ver")))

    def sh_owner_list(self, owner: str):
        """The tokens of the owner's live sessions, ascending."""
        return self._execute(
            Call("SH_OWNER_LIST", {"owner": owner}, OK, _member("tkns"), idempotent=True))

    def sh_owner_end(self, owner: str):
        """Ends every session of ``owner`` in one step ("log out everywhere"); returns how many."""
        return self._execute(Call("SH_OWNER_END", {"owner": owner}, OK, _member("cnt")))

    def sh_rmv(self, tkn: int, keys: Iterable[str]):
        """Removes keys from a session; ``keys`` must not be empty (status 42)."""
        return self._execute(Call("SH_RMV", {"tkn": _token(tkn), "keys": _key_list(keys)}))

    def sh_contains(self, tkn: int, keys: Iterable[str]):
        """Returns the listed keys that exist in a session, in request order."""
        return self._execute(
            Call("SH_CONTAINS", {"tkn": _token(tkn), "keys": _key_list(keys)}, OK,
                 _member("contains"), idempotent=True))

    def sh_count(self, tkn: int):
        """Number of keys in a session."""
        return self._execute(Call("SH_COUNT", {"tkn": _token(tkn)}, OK, _member("cnt"), idempotent=True))

    def sh_keys(self, tkn: int):
        """Every key of a session, in no particular order."""
        return self._execute(Call("SH_KEYS", {"tkn": _token(tkn)}, OK, _member("keys"), idempotent=True))

    def sh_clear(self, tkn: int):
        """Deletes a session's keys (the session stays); returns how many were deleted."""
        return self._execute(Call("SH_CLEAR", {"tkn": _token(tkn)}, OK, _member("cnt")))

    def sh_clear_set(self, tkn: int, keys: dict):
        """Replaces a session's keys with ``keys``; returns how many keys were deleted."""
        return self._execute(
            Call("SH_CLEAR_SET", {"tkn": _token(tkn), "keys": _keys_object(keys)}, OK,
                 _member("cnt")))

    def sh_info(self, tkn: int):
        """Describes a session: the reply body without ``st`` (tkn, shared, keyCnt, expires, ...)."""
        return self._execute(Call("SH_INFO", {"tkn": _token(tkn)}, OK, _without_st, idempotent=True))

    def sh_info_all(self):
        """Returns ``{"totalSessions": n, "totalKeys": n}``."""
        return self._execute(Call("SH_INFO_ALL", {}, OK, _without_st, idempotent=True))

    def sh_exists(self, tkns: Iterable[int]):
        """Returns the tokens that name live sessions, in request order."""
        return self._execute(
            Call("SH_EXISTS", {"tkns": [_token(t) for t in tkns]}, OK, _member("exist"), idempotent=True))

    def sh_end(self, tkn: int):
        """Deletes a session and its keys."""
        return self._execute(Call("SH_END", {"tkn": _token(tkn)}))

    def sh_end_all(self):
        """Deletes every session; returns how many were deleted."""
        return self._execute(Call("SH_END_ALL", {}, OK, _member("cnt")))

    def sh_save(self, name: str, tkns: Optional[Iterable[int]] = None):
        """Saves all live sessions, or those in ``tkns``, as dataset ``name``."""
        body: Dict[str, Any] = {"name": name}
        if tkns is not None:
            body["tkns"] = [_token(t) for t in tkns]
        return self._execute(Call("SH_SAVE", body, SAVE_COMPLETE, _without_st))

    def sh_load(self, name: str):
        """Restores the sessions of dataset ``name``; returns ``{"name", "sessions", "keys"}``."""
        return self._execute(Call("SH_LOAD", {"name": name}, LOAD_COMPLETE, _without_st))

    # ----- server (docs/PROTOCOL.md sections 12 and 2.6) -----

    def sv_info(self):
        """Describes the server: the reply body without ``st`` (serverVersion, persistEnabled, ...)."""
        return self._execute(Call("SV_INFO", {}, OK, _without_st, idempotent=True))

    def sv_auth(self, secret: str):
        """Authenticates this connection (status 201 for a wrong secret)."""
        return self._execute(Call("SV_AUTH", {"secret": secret}))

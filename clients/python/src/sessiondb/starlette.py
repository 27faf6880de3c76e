"""Server-side sessions for Starlette and FastAPI, a drop-in for Starlette's ``SessionMiddleware``.

Starlette's own middleware keeps the whole session in the cookie. This one keeps it in a
sessiondb session and puts only that session's token in the cookie, signed with ``secret_key``
(itsdangerous, as Starlette does) so that a client can neither forge nor guess one::

    from sessiondb.starlette import SessionMiddleware
    app.add_middleware(SessionMiddleware, secret_key="...", url="ws://127.0.0.1:1987")

``request.session`` is a dict as before; its values must be JSON-serialisable (Starlette's
cookie has the same rule). A session that is not empty at the response is stored (only when it
changed) and its cookie sent; a session emptied with ``request.session.clear()`` is ended on the
server and its cookie deleted, which is a logout.

Expiry is sliding on both sides: the sessiondb session lasts ``max_age`` seconds from its last
read or write (``extendOnGet``, ``extendOnSetAdd``, ``deleteSession``) and each response re-signs
the cookie with a fresh ``Max-Age``. With ``max_age=None`` the cookie lasts as long as the
browser and the server keeps an idle session for ``idle_timeout`` seconds (14 days by default).

Requests go through one ``AsyncClient`` per event loop, pipelined, so the loop never blocks.
A session changed in a WebSocket handler is not stored: like a cookie, it can only be sent with
an HTTP response.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Literal, Optional, Tuple

import itsdangerous
from itsdangerous.exc import BadSignature
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._protocol import SessionDBError
from .aio import AsyncClient
from .client import DEFAULT_TIMEOUT, DEFAULT_URL

#: Starlette's default cookie lifetime, also the idle timeout of browser-session cookies.
FOURTEEN_DAYS = 14 * 24 * 60 * 60

#: The sessiondb key that holds ``request.session``.
DATA_KEY = "data"

_NO_SUCH_SESSION = 100


class SessionMiddleware:
    """ASGI middleware giving ``request.session`` a dict stored in sessiondb.

    ``secret_key``, ``session_cookie``, ``max_age``, ``path``, ``same_site``, ``https_only``,
    ``domain`` and ``partitioned`` mean what they mean for Starlette's ``SessionMiddleware``. ``url`` and ``timeout``
    are the sessiondb server and the per-request timeout; ``client`` is an ``AsyncClient`` to use
    instead (its owner opens and closes it; it must belong to the loop that serves the app).
    ``idle_timeout`` is the server-side lifetime when ``max_age`` is None.
    """

    def __init__(self, app: ASGIApp, secret_key: Any, session_cookie: str = "session",
                 max_age: Optional[int] = FOURTEEN_DAYS, path: str = "/",
                 same_site: Literal["lax", "strict", "none"] = "lax", https_only: bool = False,
                 domain: Optional[str] = None, partitioned: bool = False, *,
                 url: str = DEFAULT_URL,
                 timeout: Optional[float] = DEFAULT_TIMEOUT,
                 client: Optional[AsyncClient] = None, idle_timeout: int = FOURTEEN_DAYS):
        self.app = app
        self.signer = itsdangerous.TimestampSigner(str(secret_key))
        self.session_cookie = session_cookie
        self.max_age = max_age
        self.path = path
        self.security_flags = "httponly; samesite=" + same_site
        if https_only:  # browsers send a Secure cookie over HTTPS only
            self.security_flags += "; secure"
        if domain is not None:
            self.security_flags += f"; domain={domain}"
        if partitioned:
            self.security_flags += "; partitioned"
        self.duration = max_age if max_age else idle_timeout
        if self.duration < 1:
            raise ValueError("max_age or idle_timeout must be at least 1 second")
        self.url = url
        self.timeout = timeout
        self._given_client = client
        self._clients: Dict[asyncio.AbstractEventLoop, AsyncClient] = {}
        self._opening: Dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        had_cookie, tkn, data = await self._load(HTTPConnection(scope))
        scope["session"] = data
        loaded = _snapshot(data)

        async def send_wrapper(message: Message) -> None:
            nonlocal tkn
            if message["type"] == "http.response.start":
                session = scope["session"]
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                if session or had_cookie:
                    # What the response says may depend on who sent it: caches must know.
                    headers.add_vary_header("Cookie")
                if session:
                    tkn = await self._store(tkn, session, changed=_snapshot(session) != loaded)
                    headers.append("Set-Cookie", self._cookie(self.signer.sign(str(tkn)).decode()))
                elif tkn is not None or had_cookie:
                    if tkn is not None:
                        await self._end(tkn)
                        tkn = None
                    headers.append("Set-Cookie", self._cookie(
                        "null", "expires=Thu, 01 Jan 1970 00:00:00 GMT; "))
            await send(message)

        await self.app(scope, receive, send_wrapper)

    async def _load(self, conn: HTTPConnection) -> Tuple[bool, Optional[int], Dict[str, Any]]:
        """Whether the request had a session cookie, the live token it names, and its data."""
        cookie = conn.cookies.get(self.session_cookie)
        if cookie is None:
            return False, None, {}
        tkn = self._token_from(cookie)
        data = None if tkn is None else await self._read(tkn)
        if data is None:  # forged, too old, expired or ended: start afresh
            return True, None, {}
        return True, tkn, data

    def _token_from(self, cookie: str) -> Optional[int]:
        try:
            value = self.signer.unsign(cookie.encode("utf-8"), max_age=self.max_age)
        except BadSignature:
            return None
        return int(value) if value.isdigit() else None

    # The storage: the three methods below are all that touch sessiondb.

    async def _read(self, tkn: int) -> Optional[Dict[str, Any]]:
        """The data of live session ``tkn`` (re-arming it), or None if there is none."""
        client = await self._client()
        try:
            keys = await client.sh_get(tkn, [DATA_KEY])  # re-arms the session (extendOnGet)
        except SessionDBError as e:
            if e.status == _NO_SUCH_SESSION:
                return None
            raise
        data = keys.get(DATA_KEY)
        return data if isinstance(data, dict) else {}

    async def _store(self, tkn: Optional[int], session: Dict[str, Any], changed: bool) -> int:
        """Stores ``session`` (in a new sessiondb session when needed); returns its token."""
        client = await self._client()
        if tkn is not None:
            if not changed:
                return tkn  # the read already re-armed it
            try:
                await client.sh_set(tkn, {DATA_KEY: session})
                return tkn
            except SessionDBError as e:
                if e.status != _NO_SUCH_SESSION:  # ended by a concurrent request: make a new one
                    raise
        tkn = await client.sh_new(self.duration, delete_session=True, extend_on_set_add=True,
                                  extend_on_get=True)
        await client.sh_set(tkn, {DATA_KEY: session})
        return tkn

    async def _end(self, tkn: int) -> None:
        """Ends session ``tkn``, if it still exists."""
        client = await self._client()
        try:
            await client.sh_end(tkn)
        except SessionDBError as e:
            if e.status != _NO_SUCH_SESSION:  # already gone: the logout is done
                raise

    def _cookie(self, value: str, expiry: Optional[str] = None) -> str:
        if expiry is None:
            expiry = f"Max-Age={self.max_age}; " if self.max_age is not None else ""
        return f"{self.session_cookie}={value}; path={self.path}; {expiry}{self.security_flags}"

    async def _client(self) -> AsyncClient:
        """The client for the running loop, connected on first use.

        A client belongs to the loop that opened it; a server runs one loop, but test clients
        may start a new one for each request, so each loop gets its own.
        """
        if self._given_client is not None:
            return self._given_client
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is not None:
            return client
        lock = self._opening.setdefault(loop, asyncio.Lock())
        async with lock:
            client = self._clients.get(loop)
            if client is None:
                # Loops that have closed can no longer use their clients: forget them.
                for old in [old for old in self._clients if old.is_closed()]:
                    del self._clients[old]
                    self._opening.pop(old, None)
                client = await AsyncClient.connect(self.url, timeout=self.timeout)
                self._clients[loop] = client
        return client


def _snapshot(session: Dict[str, Any]) -> str:
    """The session as JSON, to tell whether the app changed it (nested values included)."""
    return json.dumps(session, sort_keys=True, separators=(",", ":"))

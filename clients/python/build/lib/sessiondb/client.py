"""The synchronous client: request timeout, reconnection with backoff, safe retries of reads."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any, List, Optional

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from ._protocol import (
    Call,
    Commands,
    ConnectionLostError,
    DisconnectedError,
    RequestTimeoutError,
    check_url,
    finish,
    parse_reply,
    touch_call,
)

DEFAULT_URL = "ws://127.0.0.1:1987"
#: Seconds a request waits for its reply before RequestTimeoutError.
DEFAULT_TIMEOUT = 10.0


class SyncHelpers(Commands):
    """Helpers made of several commands, for clients whose methods return results directly."""

    def sh_touch(self, tkn: int) -> bool:
        """Re-arms session ``tkn``'s deadline to now + its duration, if its settings allow that.

        No command of the protocol changes an existing session's expiry: its duration and flags are
        fixed by ``sh_new``. What a client can do is what the session's own flags allow: with
        ``extend_on_get`` an empty ``sh_get`` re-arms it, with ``extend_on_set_add`` an empty
        ``sh_set`` does; neither changes a key. This reads the session's settings (``sh_info``)
        and sends the one that applies. Returns True if the deadline was re-armed, False if the
        session never expires or has neither flag (then nothing is sent after ``sh_info``).
        Raises SessionDBError 100 if the session does not exist.
        """
        call = touch_call(tkn, self.sh_info(tkn))
        if call is None:
            return False
        self._execute(call)
        return True


class Client(SyncHelpers):
    """A blocking connection to a sessiondb server; one method per command (``sh_new``, ``kv_get``...).

    Safe to share between threads (requests are serialised; see ClientPool for parallel use). Use
    as a context manager to close it::

        with sessiondb.Client("ws://127.0.0.1:1987", timeout=5) as db:
            tkn = db.sh_new(expiry=60)
            db.sh_set(tkn, {"name": "Alice"})

    ``timeout``: seconds each request waits for its reply (None: forever). When it passes,
    RequestTimeoutError is raised and the connection is closed, because the late reply would
    otherwise be read as the next request's.

    Recovery (``reconnect=True``, the default): when the connection is found closed, the next call
    opens a new one, trying up to ``reconnect_tries`` times with exponential backoff from
    ``backoff`` seconds up to ``max_backoff`` (with jitter); if every try fails it raises
    DisconnectedError. A request whose connection drops while it waits for its reply may or may
    not have run on the server:

    * reads (``kv_get``, ``sh_get``, ``sh_info``, ``sv_info``... every command that changes
      nothing) are sent again on a new connection, up to ``read_retries`` times;
    * writes raise ConnectionLostError and are never sent again by the client; the caller decides
      (the next call reconnects). A write that was never sent because the connection was already
      known to be closed is simply sent on the new connection.

    A secret given to ``sv_auth`` is sent again on each new connection; credentials in the URL
    (``ws://any:SECRET@host:1987``) are sent at every connect anyway. The first connection is not
    retried: a wrong URL fails at once with DisconnectedError (InvalidURLError for a URL that is
    not ws:// or wss://).
    """

    def __init__(self, url: str = DEFAULT_URL, *, timeout: Optional[float] = DEFAULT_TIMEOUT,
                 open_timeout: Optional[float] = 10, reconnect: bool = True,
                 reconnect_tries: int = 5, backoff: float = 0.05, max_backoff: float = 2.0,
                 read_retries: int = 2):
        self.url = check_url(url)
        self.timeout = timeout
        self.open_timeout = open_timeout
        self.reconnect = reconnect
        self.reconnect_tries = reconnect_tries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.read_retries = read_retries
        #: How many times a new connection replaced a closed one.
        self.reconnects = 0
        self._secret: Optional[str] = None
        self._closed = False
        self._lock = threading.RLock()
        self._ws: Optional[ClientConnection] = self._open()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection; later calls raise DisconnectedError instead of reconnecting."""
        with self._lock:
            self._closed = True
            ws, self._ws = self._ws, None
            if ws is not None:
                ws.close()

    @property
    def connected(self) -> bool:
        """Whether the current connection is open (it may still drop before the next request)."""
        ws = self._ws
        return ws is not None and ws.protocol.state is State.OPEN

    def request_text(self, text: str) -> str:
        """Sends one raw request and returns the reply text as the server sent it.

        Raw requests count as writes: they are not sent again after a dropped connection.
        """
        return self.pipeline_text([text])[0]

    def request(self, request: dict) -> dict:
        """Sends a request given as a dict and returns the whole reply dict, whatever its status."""
        return json.loads(self.request_text(json.dumps(request, separators=(",", ":"))))

    def pipeline_text(self, texts: List[str]) -> List[str]:
        """Sends every request before reading any reply; returns the replies in order.

        ``timeout`` applies to each reply. The requests are not sent again after a dropped
        connection.
        """
        return self._exchange(texts, "pipeline", retry=False)

    def _execute(self, call: Call) -> Any:
        reply = self._exchange([call.text()], call.command, retry=call.idempotent)[0]
        result = finish(call, reply)
        if call.command == "SV_AUTH":
            # Authentication belongs to the connection: remember it for the next ones.
            self._secret = call.body["secret"]
        return result

    def _exchange(self, texts: List[str], command: str, retry: bool) -> List[str]:
        with self._lock:
            retries_left = self.read_retries if retry else 0
            # A request whose send failed never left: sending it on a new connection is no replay.
            unsent_retries = 1
            while True:
                ws = self._connection()
                sent = False
                try:
                    for text in texts:
                        ws.send(text)
                        sent = True
                    return [self._recv(ws) for _ in texts]
                except TimeoutError:
                    self._drop()
                    raise RequestTimeoutError(
                        f"no reply to {command} from {self.url} within {self.timeout} s; "
                        "it may or may not have run") from None
                except (ConnectionClosed, OSError) as e:
                    self._drop()
                    can_retry = self.reconnect and not self._closed
                    if not sent and unsent_retries > 0 and can_retry:
                        unsent_retries -= 1
                        continue
                    if retries_left > 0 and can_retry:
                        retries_left -= 1
                        continue
                    what = ("was not sent again: it changes data and may already have run"
                            if not retry else "may or may not have run; retries used up")
                    raise ConnectionLostError(
                        f"connection to {self.url} dropped before the reply to {command}; it "
                        f"{what}", command) from e

    def _recv(self, ws: ClientConnection) -> str:
        reply = ws.recv(timeout=self.timeout)
        return reply if isinstance(reply, str) else reply.decode("utf-8", "replace")

    def _connection(self) -> ClientConnection:
        """The open connection, opening a new one (with backoff) if the last one closed."""
        if self._ws is not None and self._ws.protocol.state is State.OPEN:
            return self._ws
        self._drop()
        if self._closed:
            raise DisconnectedError(f"client for {self.url} is closed")
        if not self.reconnect:
            raise DisconnectedError(f"connection to {self.url} closed (reconnect is off)")
        delay = self.backoff
        for attempt in range(self.reconnect_tries):
            try:
                ws = self._open()
            except DisconnectedError:
                if attempt + 1 == self.reconnect_tries:
                    raise
                # Jitter keeps many clients (a pool) from hammering a restarting server in step.
                time.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self.max_backoff)
                continue
            self._ws = ws
            self.reconnects += 1
            if self._secret is not None:
                self._reauthenticate(ws)
            return ws
        raise DisconnectedError(f"cannot reconnect to {self.url}")  # reconnect_tries < 1

    def _reauthenticate(self, ws: ClientConnection) -> None:
        try:
            ws.send(json.dumps({"SV_AUTH": {"secret": self._secret}}))
            _, body = parse_reply(self._recv(ws))
        except (ConnectionClosed, OSError) as e:
            self._drop()
            raise DisconnectedError(f"connection to {self.url} dropped while authenticating") from e
        if body["st"] != 1:
            self._drop()
            raise DisconnectedError(f"{self.url} refused the secret on reconnect (st {body['st']})")

    def _open(self) -> ClientConnection:
        # Replies have no size limit (docs/PROTOCOL.md 2.3), so incoming messages are not capped.
        try:
            # Entering the context opens the connection on every supported websockets version
            # (17.1+ warns when connect() is used without it); close() ends it.
            return connect(self.url, max_size=None, open_timeout=self.open_timeout,
                           compression=None).__enter__()
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as e:
            raise DisconnectedError(f"cannot connect to {self.url}: {e}") from e

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is None:
            return
        # Closing the socket itself does not wait for a closing handshake that a dead or stuck
        # server would never answer; the connection's reader thread then ends on its own.
        close_socket = getattr(ws, "close_socket", None)
        if close_socket is not None:
            close_socket()
        else:
            ws.socket.close()

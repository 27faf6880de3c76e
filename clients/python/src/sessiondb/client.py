"""The synchronous client."""

from __future__ import annotations

import json
import threading
from typing import Any, List, Optional

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

from ._protocol import Call, Commands, DisconnectedError, finish

DEFAULT_URL = "ws://127.0.0.1:1987"


class Client(Commands):
    """A blocking connection to a sessiondb server; one method per command (``sh_new``, ``kv_get``...).

    Safe to share between threads (requests are serialised). Use as a context manager to close it::

        with sessiondb.Client("ws://127.0.0.1:1987") as db:
            tkn = db.sh_new(expiry=60)
            db.sh_set(tkn, {"name": "Alice"})

    The client never reconnects by itself: once the connection drops, every call raises
    DisconnectedError; create a new Client to recover.
    """

    def __init__(self, url: str = DEFAULT_URL, *, open_timeout: Optional[float] = 10):
        self.url = url
        # Replies have no size limit (PROTOCOL.md 2.3), so incoming messages are not capped.
        try:
            # Entering the context opens the connection on every supported websockets version
            # (17.1+ warns when connect() is used without it); close() ends it.
            self._ws = connect(url, max_size=None, open_timeout=open_timeout,
                               compression=None).__enter__()
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as e:
            raise DisconnectedError(f"cannot connect to {url}: {e}") from e
        self._lock = threading.Lock()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection."""
        self._ws.close()

    def request_text(self, text: str) -> str:
        """Sends one raw request and returns the reply text as the server sent it."""
        return self.pipeline_text([text])[0]

    def request(self, request: dict) -> dict:
        """Sends a request given as a dict and returns the whole reply dict, whatever its status."""
        return json.loads(self.request_text(json.dumps(request, separators=(",", ":"))))

    def pipeline_text(self, texts: List[str]) -> List[str]:
        """Sends every request before reading any reply; returns the replies in order."""
        with self._lock:
            try:
                for text in texts:
                    self._ws.send(text)
                return [self._recv_text() for _ in texts]
            except ConnectionClosed as e:
                raise DisconnectedError(f"connection to {self.url} closed: {e}") from e

    def _recv_text(self) -> str:
        reply = self._ws.recv()
        return reply if isinstance(reply, str) else reply.decode("utf-8", "replace")

    def _execute(self, call: Call) -> Any:
        return finish(call, self.request_text(call.text()))

"""A small thread-safe pool of synchronous clients, for threaded programs."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional

from ._protocol import Call, DisconnectedError, check_url
from .client import DEFAULT_URL, Client, SyncHelpers


class ClientPool(SyncHelpers):
    """Up to ``size`` connections shared by any number of threads.

    Each call borrows an idle connection (opening one if fewer than ``size`` exist, otherwise
    waiting for one to come back), runs, and returns it; so threads run requests in parallel, one
    per connection. Every command method is available on the pool itself::

        pool = sessiondb.ClientPool("ws://127.0.0.1:1987", size=4, timeout=5)
        tkn = pool.sh_new()                  # from any thread
        with pool.client() as db:            # several requests on one connection
            db.sh_set(tkn, {"a": 1})
            db.sh_get(tkn, ["a"])
        pool.close()

    ``client_options`` are passed to each Client (``timeout``, ``reconnect``, ...): each
    connection reconnects and retries reads by itself. Authentication is per connection: put the
    secret in the URL (``ws://any:SECRET@host:1987``) rather than calling ``sv_auth`` on the pool.
    """

    def __init__(self, url: str = DEFAULT_URL, *, size: int = 4, **client_options: Any):
        if size < 1:
            raise ValueError("a pool needs a size of at least 1")
        self.url = check_url(url)
        self.size = size
        self._options = client_options
        self._idle: List[Client] = []
        self._all: List[Client] = []
        self._opening = 0
        self._closed = False
        self._cond = threading.Condition()

    def __enter__(self) -> "ClientPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def opened(self) -> int:
        """How many connections the pool holds now (never more than ``size``)."""
        with self._cond:
            return len(self._all)

    @contextmanager
    def client(self, wait: Optional[float] = None) -> Iterator[Client]:
        """Borrows one connection for the ``with`` block. ``wait``: seconds to wait for a free one
        when all ``size`` are busy (None: as long as it takes), then TimeoutError."""
        client = self._acquire(wait)
        try:
            yield client
        finally:
            self._release(client)

    def close(self) -> None:
        """Closes every connection; later calls raise DisconnectedError."""
        with self._cond:
            self._closed = True
            clients, self._all, self._idle = self._all, [], []
            self._cond.notify_all()
        for client in clients:
            client.close()

    def sv_auth(self, secret: str):
        raise TypeError("sv_auth authenticates one connection; give a pool the secret in its URL "
                        "(ws://any:SECRET@host:1987)")

    def _execute(self, call: Call) -> Any:
        with self.client() as client:
            return client._execute(call)

    def _acquire(self, wait: Optional[float] = None) -> Client:
        with self._cond:
            if not self._cond.wait_for(
                    lambda: self._closed or self._idle or
                    len(self._all) + self._opening < self.size, wait):
                raise TimeoutError(f"no free connection in the pool within {wait} s")
            if self._closed:
                raise DisconnectedError(f"pool for {self.url} is closed")
            if self._idle:
                return self._idle.pop()
            self._opening += 1
        # Connect outside the lock: other threads keep borrowing and returning meanwhile.
        try:
            client = Client(self.url, **self._options)
        except BaseException:
            with self._cond:
                self._opening -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._opening -= 1
            if self._closed:
                client.close()
                raise DisconnectedError(f"pool for {self.url} is closed")
            self._all.append(client)
            return client

    def _release(self, client: Client) -> None:
        with self._cond:
            if self._closed:
                closing = True
            else:
                closing = False
                self._idle.append(client)
                self._cond.notify()
        if closing:
            client.close()

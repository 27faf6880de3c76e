"""The asyncio client: requests from any number of tasks are pipelined on one connection."""

from __future__ import annotations

import asyncio
import collections
import json
import random
from typing import Any, Deque, Optional, Tuple

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ._protocol import (
    Call,
    Commands,
    ConnectionLostError,
    DisconnectedError,
    RequestTimeoutError,
    check_url,
    finish,
    touch_call,
)
from .client import DEFAULT_TIMEOUT, DEFAULT_URL


class _Unsent(DisconnectedError):
    """The connection ended before this request was written: it never reached the server."""


class AsyncClient(Commands):
    """An asyncio connection to a sessiondb server; every command method returns an awaitable.

    Requests are written as soon as they are made, without waiting for earlier replies; a reader
    task hands each reply (the server answers in request order) to the oldest waiting request::

        async with sessiondb.AsyncClient("ws://127.0.0.1:1987") as db:
            tkns = await asyncio.gather(*(db.sh_new() for _ in range(100)))

    ``timeout`` bounds each request's wait for its reply (RequestTimeoutError); a reply that comes
    later is discarded, so the connection stays usable. Recovery works as in Client: a call that
    finds the connection closed opens a new one (``reconnect_tries`` tries, exponential backoff
    from ``backoff`` to ``max_backoff`` seconds); reads cut off by a drop are sent again on the
    new connection (``read_retries``), writes raise ConnectionLostError and are not sent again.
    """

    def __init__(self, url: str = DEFAULT_URL, *, timeout: Optional[float] = DEFAULT_TIMEOUT,
                 open_timeout: Optional[float] = 10, reconnect: bool = True,
                 reconnect_tries: int = 5, backoff: float = 0.05, max_backoff: float = 2.0,
                 read_retries: int = 2):
        self.url = check_url(url)
        self.timeout = timeout
        self._open_timeout = open_timeout
        self.reconnect = reconnect
        self.reconnect_tries = reconnect_tries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.read_retries = read_retries
        #: How many times a new connection replaced a closed one.
        self.reconnects = 0
        self._secret: Optional[str] = None
        self._ws: Any = None
        # Created in open(): on old Pythons a Queue binds to the loop current at creation.
        self._outbox: "Optional[asyncio.Queue[Tuple[str, asyncio.Future]]]" = None
        self._waiting: Deque[asyncio.Future] = collections.deque()
        self._tasks: list = []
        self._closed = False  # the current connection has ended
        self._user_closed = False  # close() was called: no more reconnecting
        self._reconnecting: Optional[asyncio.Lock] = None

    @classmethod
    async def connect(cls, url: str = DEFAULT_URL, **kwargs: Any) -> "AsyncClient":
        """Creates a client and opens its connection."""
        client = cls(url, **kwargs)
        await client.open()
        return client

    async def open(self) -> None:
        """Opens the connection and starts the reader and writer tasks."""
        try:
            self._ws = await connect(self.url, max_size=None, open_timeout=self._open_timeout,
                                     compression=None)
        except (OSError, asyncio.TimeoutError, InvalidHandshake, InvalidURI,
                ConnectionClosed) as e:
            raise DisconnectedError(f"cannot connect to {self.url}: {e}") from e
        self._closed = False
        self._outbox = asyncio.Queue()
        self._waiting = collections.deque()
        self._tasks = [asyncio.create_task(self._write_loop()),
                       asyncio.create_task(self._read_loop())]

    async def __aenter__(self) -> "AsyncClient":
        if self._ws is None:
            await self.open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the connection; pending requests fail with DisconnectedError."""
        self._user_closed = True
        await self._shutdown()

    async def _shutdown(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_all()

    async def request_text(self, text: str) -> str:
        """Sends one raw request and returns the reply text as the server sent it.

        Raw requests count as writes: they are not sent again after a dropped connection.
        """
        return await self._exchange(text, "request", retry=False)

    async def request(self, request: dict) -> dict:
        """Sends a request given as a dict and returns the whole reply dict, whatever its status."""
        return json.loads(await self.request_text(json.dumps(request, separators=(",", ":"))))

    async def sh_touch(self, tkn: int) -> bool:
        """Re-arms session ``tkn``'s deadline if its settings allow it; see Client.sh_touch."""
        call = touch_call(tkn, await self.sh_info(tkn))
        if call is None:
            return False
        await self._execute(call)
        return True

    async def _execute(self, call: Call) -> Any:
        reply = await self._exchange(call.text(), call.command, retry=call.idempotent)
        result = finish(call, reply)
        if call.command == "SV_AUTH":
            # Authentication belongs to the connection: remember it for the next ones.
            self._secret = call.body["secret"]
        return result

    async def _exchange(self, text: str, command: str, retry: bool) -> str:
        retries_left = self.read_retries if retry else 0
        # A request that was never written may go on a new connection: that is no replay.
        unsent_retries = 1
        while True:
            await self._ensure_open()
            assert self._outbox is not None
            future = asyncio.get_running_loop().create_future()
            # Queued synchronously, so requests leave in the order the calls were made.
            self._outbox.put_nowait((text, future))
            try:
                # On timeout wait_for cancels the future, which stays in its place in the queue:
                # its late reply is still matched to it by position, then discarded.
                return await asyncio.wait_for(future, self.timeout)
            except asyncio.TimeoutError:
                raise RequestTimeoutError(
                    f"no reply to {command} from {self.url} within {self.timeout} s; "
                    "it may or may not have run") from None
            except _Unsent as e:
                if unsent_retries > 0 and self.reconnect and not self._user_closed:
                    unsent_retries -= 1
                    continue
                raise DisconnectedError(f"connection to {self.url} closed before {command} "
                                        "was sent; it did not run") from e
            except DisconnectedError as e:
                if retries_left > 0 and self.reconnect and not self._user_closed:
                    retries_left -= 1
                    continue
                what = ("was not sent again: it changes data and may already have run"
                        if not retry else "may or may not have run; retries used up")
                raise ConnectionLostError(
                    f"connection to {self.url} dropped before the reply to {command}; it {what}",
                    command) from e

    async def _ensure_open(self) -> None:
        if not self._closed and self._outbox is not None:
            return
        if self._user_closed:
            raise DisconnectedError(f"client for {self.url} is closed")
        if self._outbox is None:
            raise DisconnectedError(f"not connected to {self.url}")
        if not self.reconnect:
            raise DisconnectedError(f"connection to {self.url} closed (reconnect is off)")
        if self._reconnecting is None:
            self._reconnecting = asyncio.Lock()
        async with self._reconnecting:
            if not self._closed:
                return  # another task reconnected while this one waited
            await self._shutdown()
            delay = self.backoff
            for attempt in range(self.reconnect_tries):
                try:
                    await self.open()
                    break
                except DisconnectedError:
                    if attempt + 1 >= self.reconnect_tries:
                        raise
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, self.max_backoff)
            else:
                raise DisconnectedError(f"cannot reconnect to {self.url}")
            self.reconnects += 1
            if self._secret is not None:
                await self._reauthenticate()

    async def _reauthenticate(self) -> None:
        assert self._outbox is not None
        future = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait((json.dumps({"SV_AUTH": {"secret": self._secret}}), future))
        try:
            finish(Call("SV_AUTH", {}), await asyncio.wait_for(future, self.timeout))
        except Exception as e:
            await self._shutdown()
            raise DisconnectedError(f"{self.url} did not accept the secret on reconnect") from e

    async def _write_loop(self) -> None:
        assert self._outbox is not None
        try:
            while True:
                text, future = await self._outbox.get()
                if future.done():
                    continue  # The caller gave up before we sent it: nothing to match.
                # The future goes in before the message leaves, so the reply always finds it.
                self._waiting.append(future)
                await self._ws.send(text)
        except ConnectionClosed:
            pass
        finally:
            self._fail_all()

    async def _read_loop(self) -> None:
        try:
            async for message in self._ws:
                if not self._waiting:
                    continue  # No request is waiting: not a reply we can match.
                future = self._waiting.popleft()
                if not future.done():
                    if isinstance(message, bytes):
                        message = message.decode("utf-8", "replace")
                    future.set_result(message)
        except ConnectionClosed:
            pass
        finally:
            self._fail_all()

    def _fail_all(self) -> None:
        self._closed = True
        error = DisconnectedError(f"connection to {self.url} closed")
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(error)
        unsent = _Unsent(f"connection to {self.url} closed before the request was sent")
        while self._outbox is not None and not self._outbox.empty():
            _, future = self._outbox.get_nowait()
            if not future.done():
                future.set_exception(unsent)

"""The asyncio client: requests from any number of tasks are pipelined on one connection."""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any, Deque, Optional, Tuple

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ._protocol import Call, Commands, DisconnectedError, finish
from .client import DEFAULT_URL


class AsyncClient(Commands):
    """An asyncio connection to a sessiondb server; every command method returns an awaitable.

    Requests are written as soon as they are made, without waiting for earlier replies; a reader
    task hands each reply (the server answers in request order) to the oldest waiting request::

        async with sessiondb.AsyncClient("ws://127.0.0.1:1987") as db:
            tkns = await asyncio.gather(*(db.sh_new() for _ in range(100)))

    The client never reconnects by itself: once the connection drops, every pending and later
    call raises DisconnectedError; create a new client to recover.
    """

    def __init__(self, url: str = DEFAULT_URL, *, open_timeout: Optional[float] = 10):
        self.url = url
        self._open_timeout = open_timeout
        self._ws: Any = None
        # Created in open(): on old Pythons a Queue binds to the loop current at creation.
        self._outbox: "Optional[asyncio.Queue[Tuple[str, asyncio.Future]]]" = None
        self._waiting: Deque[asyncio.Future] = collections.deque()
        self._tasks: list = []
        self._closed = False

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
        except (OSError, asyncio.TimeoutError, InvalidHandshake, InvalidURI) as e:
            raise DisconnectedError(f"cannot connect to {self.url}: {e}") from e
        self._outbox = asyncio.Queue()
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
        if self._ws is not None:
            await self._ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_all()

    async def request_text(self, text: str) -> str:
        """Sends one raw request and returns the reply text as the server sent it."""
        if self._closed or self._outbox is None:
            raise DisconnectedError(f"not connected to {self.url}")
        future = asyncio.get_running_loop().create_future()
        # Queued synchronously, so requests leave in the order the calls were made.
        self._outbox.put_nowait((text, future))
        return await future

    async def request(self, request: dict) -> dict:
        """Sends a request given as a dict and returns the whole reply dict, whatever its status."""
        return json.loads(await self.request_text(json.dumps(request, separators=(",", ":"))))

    async def _execute(self, call: Call) -> Any:
        return finish(call, await self.request_text(call.text()))

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
        while self._outbox is not None and not self._outbox.empty():
            _, future = self._outbox.get_nowait()
            if not future.done():
                future.set_exception(error)

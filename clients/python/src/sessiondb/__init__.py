"""Python client for sessiondb, the session database speaking NemesisDB's JSON-over-WebSocket protocol.

``Client`` is synchronous, ``AsyncClient`` is asyncio and pipelines requests from many tasks on one
connection. Methods are the protocol's commands in snake case (``sh_new``, ``sh_set``, ``kv_get``,
``sv_info``...); tokens are ints; a failure status raises ``SessionDBError`` with ``.status`` and
``.status_name``.

Both clients time requests out (``timeout``, default 10 s), reconnect with backoff when the
connection drops, send reads again on the new connection, and raise ``ConnectionLostError`` for a
write cut off by a drop rather than sending it twice. ``ClientPool`` shares a few sync connections
between threads.
"""

from ._protocol import (
    STATUS_NAMES,
    ConnectionLostError,
    DisconnectedError,
    InvalidURLError,
    ProtocolError,
    RequestTimeoutError,
    SessionDBError,
    VersionMismatchError,
    check_url,
    status_name,
)
from .aio import AsyncClient
from .client import DEFAULT_TIMEOUT, DEFAULT_URL, Client
from .pool import ClientPool

__all__ = [
    "AsyncClient",
    "Client",
    "ClientPool",
    "ConnectionLostError",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "DisconnectedError",
    "InvalidURLError",
    "ProtocolError",
    "RequestTimeoutError",
    "STATUS_NAMES",
    "SessionDBError",
    "VersionMismatchError",
    "check_url",
    "status_name",
]
__version__ = "0.1.0"

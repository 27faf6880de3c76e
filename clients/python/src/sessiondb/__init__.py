"""Python client for sessiondb, the session database speaking NemesisDB's JSON-over-WebSocket protocol.

``Client`` is synchronous, ``AsyncClient`` is asyncio and pipelines requests from many tasks on one
connection. Methods are the protocol's commands in snake case (``sh_new``, ``sh_set``, ``kv_get``,
``sv_info``...); tokens are ints; a failure status raises ``SessionDBError`` with ``.status`` and
``.status_name``.
"""

from ._protocol import (
    STATUS_NAMES,
    DisconnectedError,
    ProtocolError,
    SessionDBError,
    status_name,
)
from .aio import AsyncClient
from .client import DEFAULT_URL, Client

__all__ = [
    "AsyncClient",
    "Client",
    "DEFAULT_URL",
    "DisconnectedError",
    "ProtocolError",
    "STATUS_NAMES",
    "SessionDBError",
    "status_name",
]
__version__ = "0.1.0"

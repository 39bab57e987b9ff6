"""``gungnir.client``: a fast, cancellation-safe asyncio client for Valkey.

Quick start::

    from gungnir.client import connect, run

    async def main():
        conn = await connect("127.0.0.1", 6379)
        await conn.set("k", "v")
        print(await conn.get("k"))

    run(main())

Server error replies are raised as :class:`gungnir.resp.ReplyError` subclasses (re-exported
here); failures on our side of the socket are the :mod:`gungnir.client.errors` classes, all
carrying the server ``address``.
"""

from ..resp import (
    AskError,
    BusyError,
    ExecAbortError,
    LoadingError,
    MovedError,
    NoAuthError,
    NoPermError,
    NoProtoError,
    ProtocolError,
    Push,
    ReadOnlyError,
    ReplyError,
    WrongPassError,
    WrongTypeError,
)
from .commands import ReplicaLink, Role, parse_client_list, parse_info, parse_role
from .connection import Connection, connect
from .errors import (
    ClientError,
    CommandTimeoutError,
    ConnectError,
    ConnectionClosedError,
    ConnectionError,
    ConnectionLostError,
    ConnectTimeoutError,
    PoolClosedError,
    PoolTimeoutError,
    PubSubOverflowError,
    TimeoutError,
    WatchError,
)
from .loop import run
from .pipeline import Pipeline, Transaction
from .pool import Backoff, Pool
from .pubsub import Message, PubSub

__all__ = [
    "AskError",
    "Backoff",
    "BusyError",
    "ClientError",
    "CommandTimeoutError",
    "ConnectError",
    "ConnectTimeoutError",
    "Connection",
    "ConnectionClosedError",
    "ConnectionError",
    "ConnectionLostError",
    "ExecAbortError",
    "LoadingError",
    "Message",
    "MovedError",
    "NoAuthError",
    "NoPermError",
    "NoProtoError",
    "Pipeline",
    "Pool",
    "PoolClosedError",
    "PoolTimeoutError",
    "ProtocolError",
    "PubSub",
    "PubSubOverflowError",
    "Push",
    "ReadOnlyError",
    "ReplicaLink",
    "ReplyError",
    "Role",
    "TimeoutError",
    "Transaction",
    "WatchError",
    "WrongPassError",
    "WrongTypeError",
    "connect",
    "parse_client_list",
    "parse_info",
    "parse_role",
    "run",
]

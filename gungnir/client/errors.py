"""Client-side errors.

Server replies that are errors (``-ERR ...``) are *not* defined here: they come from the
codec as :class:`gungnir.resp.ReplyError` and its subclasses, and are raised to the caller
unchanged, so ``except WrongPassError`` works the same whether the codec is C or Python.

What lives here are the failures that happen on *our* side of the socket: the connection
could not be made, was lost, was closed, or a call ran out of time.  They subclass the
builtin ``ConnectionError`` / ``TimeoutError`` (so generic handlers keep working; note that
``asyncio.TimeoutError is TimeoutError`` on Python 3.11) and every one of them carries the
``address`` of the server it concerns, because a failover daemon talking to five nodes must
know *which* node failed without parsing a message.
"""

from __future__ import annotations

import builtins

__all__ = [
    "ClientError",
    "CommandTimeoutError",
    "ConnectError",
    "ConnectTimeoutError",
    "ConnectionClosedError",
    "ConnectionError",
    "ConnectionLostError",
    "PoolClosedError",
    "PoolTimeoutError",
    "PubSubOverflowError",
    "TimeoutError",
    "WatchError",
]

Address = tuple[str, int]


def _fmt(address: Address | None) -> str:
    if address is None:
        return "?"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ClientError(Exception):
    """Base of every error raised by the client itself (not by the server)."""


class ConnectionError(ClientError, builtins.ConnectionError):
    """The connection to ``address`` failed; the message says how and why."""

    def __init__(self, address: Address | None, message: str) -> None:
        self.address = address
        self.reason = message
        super().__init__(f"{_fmt(address)}: {message}")


class ConnectError(ConnectionError):
    """Opening the connection (TCP, TLS or the HELLO handshake transport) failed."""


class ConnectionLostError(ConnectionError):
    """The server closed the connection, or it broke, while replies were outstanding."""


class ConnectionClosedError(ConnectionError):
    """The connection was closed (by us or earlier by the server) before the call."""


class PoolClosedError(ConnectionClosedError):
    """The pool was closed; no further connections are handed out."""


class TimeoutError(ClientError, builtins.TimeoutError):
    """A deadline passed while talking to ``address``."""

    def __init__(self, address: Address | None, message: str) -> None:
        self.address = address
        self.reason = message
        super().__init__(f"{_fmt(address)}: {message}")


class ConnectTimeoutError(TimeoutError):
    """The connection (including the handshake) was not ready within ``connect_timeout``."""


class CommandTimeoutError(TimeoutError):
    """No reply within the command timeout.

    The connection stays usable: the late reply is read and discarded when it arrives, so
    the next caller can never receive it.
    """


class PoolTimeoutError(TimeoutError):
    """No connection became free in the pool within the acquire timeout."""


class PubSubOverflowError(ClientError):
    """Pub/sub messages were dropped because the consumer fell too far behind.

    Raised by ``PubSub.get_message`` (and iteration) at the exact place in the stream where
    the messages are missing, after every message queued before the gap was delivered;
    ``dropped`` says how many.  The PubSub keeps working: the next call returns what
    arrived after the gap.
    """

    def __init__(self, address: Address | None, dropped: int, limit: int) -> None:
        self.address = address
        self.dropped = dropped
        self.limit = limit
        super().__init__(
            f"{_fmt(address)}: {dropped} pub/sub message(s) dropped: the consumer was "
            f"{limit} behind while replies were awaited on the connection"
        )


class WatchError(ClientError):
    """A transaction was aborted because a WATCHed key changed (EXEC returned nil)."""

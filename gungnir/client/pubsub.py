"""Pub/sub on a connection: SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE and an async iterator of
messages.

On RESP3 (the default) messages are push frames, so one connection carries pub/sub and
ordinary commands at once: the reader hands pushes to a separate path and they can never be
taken for a reply.  Subscribe confirmations are pushes too; the protocol matches them to
the pending SUBSCRIBE so ``await ps.subscribe(...)`` returns once the server confirmed every
channel.  On RESP2 a subscribed connection can carry nothing else (Valkey's rule), so give
pub/sub its own connection there.

Delivery is in order.  If the consumer falls ``max_queued`` messages behind, the
connection stops reading (TCP back-pressure) until it catches up, rather than buffering
without bound; the server's client-output-buffer limit then decides, as for any slow
subscriber.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .protocol import push_kind

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Message", "PubSub"]


@dataclass(frozen=True, slots=True)
class Message:
    """One published message.  ``kind`` is ``message``, ``pmessage`` or ``smessage``;
    ``pattern`` is set for ``pmessage``."""

    kind: str
    channel: Any
    data: Any
    pattern: Any = None


_ADD = {"subscribe": "channels", "psubscribe": "patterns", "ssubscribe": "shard_channels"}
_DROP = {"unsubscribe": "channels", "punsubscribe": "patterns", "sunsubscribe": "shard_channels"}


class PubSub:
    """Subscriptions and the message queue of one connection (at most one per connection)."""

    def __init__(self, conn: Connection, *, max_queued: int = 10_000) -> None:
        if conn._pubsub is not None:
            raise RuntimeError(f"{conn!r} already has a PubSub")
        self._conn = conn
        self._proto = conn._proto
        self._loop = asyncio.get_running_loop()
        self.max_queued = max_queued
        self.channels: set[Any] = set()
        self.patterns: set[Any] = set()
        self.shard_channels: set[Any] = set()
        self._queue: deque[Message] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()
        self._paused = False
        self._closed = False
        conn._pubsub = self
        self._proto._lost.add_done_callback(lambda _f: self._wake())

    # -- called by the connection, in stream order ------------------------------------------

    def _handle_push(self, push: list[Any]) -> bool:
        kind = push_kind(push)
        if kind == "message" or kind == "smessage":
            self._queue.append(Message(kind, push[1], push[2]))
        elif kind == "pmessage":
            self._queue.append(Message(kind, push[2], push[3], pattern=push[1]))
        elif kind in _ADD:
            getattr(self, _ADD[kind]).add(push[1])
            return True
        elif kind in _DROP:
            if push[1] is not None:
                getattr(self, _DROP[kind]).discard(push[1])
            return True
        else:
            return False
        if len(self._queue) >= self.max_queued and not self._paused:
            self._paused = True
            self._proto.pause_reading()
        self._wake()
        return True

    def _wake(self) -> None:
        g = self._getter
        if g is not None and not g.done():
            g.set_result(None)

    # -- subscribing --------------------------------------------------------------------------

    async def _change(self, kind: str, names: tuple[Any, ...], current: set[Any]) -> None:
        async with self._lock:
            if kind.endswith("unsubscribe") and not names:
                names = tuple(current)  # explicit names: we know how many confirmations
            if not names:
                return
            if self._conn.protocol_version == 2:
                self._proto.resp2_pubsub = True
            await self._conn._send_subscribe(kind, names, len(names))

    async def subscribe(self, *channels: Any) -> None:
        """SUBSCRIBE; returns when the server confirmed every channel."""
        await self._change("subscribe", channels, self.channels)

    async def psubscribe(self, *patterns: Any) -> None:
        await self._change("psubscribe", patterns, self.patterns)

    async def ssubscribe(self, *channels: Any) -> None:
        await self._change("ssubscribe", channels, self.shard_channels)

    async def unsubscribe(self, *channels: Any) -> None:
        """UNSUBSCRIBE the given channels (all when none are given)."""
        await self._change("unsubscribe", channels, self.channels)

    async def punsubscribe(self, *patterns: Any) -> None:
        await self._change("punsubscribe", patterns, self.patterns)

    async def sunsubscribe(self, *channels: Any) -> None:
        await self._change("sunsubscribe", channels, self.shard_channels)

    @property
    def subscribed(self) -> bool:
        return bool(self.channels or self.patterns or self.shard_channels)

    # -- receiving ----------------------------------------------------------------------------

    async def get_message(self, timeout: float | None = None) -> Message | None:  # noqa: ASYNC109
        """The next message; None if ``timeout`` passes or the PubSub was closed first.

        Raises the connection's error if it is lost with nothing left to deliver.
        """
        queue = self._queue
        if not queue:
            try:
                async with asyncio.timeout(timeout):
                    while not queue:
                        if self._closed:
                            return None
                        if self._proto.is_closed:
                            raise self._proto._refusal()
                        self._getter = self._loop.create_future()
                        try:
                            await self._getter
                        finally:
                            self._getter = None
            except TimeoutError:
                if not queue:  # else a message arrived just as the deadline passed
                    return None
        msg = queue.popleft()
        if self._paused and len(queue) <= self.max_queued // 2:
            self._paused = False
            self._proto.resume_reading()
        return msg

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        msg = await self.get_message()
        if msg is None:
            raise StopAsyncIteration
        return msg

    async def aclose(self) -> None:
        """Unsubscribe from everything and detach from the connection."""
        if self._closed:
            return
        if not self._proto.is_closed:
            for kind, names in (
                ("unsubscribe", self.channels),
                ("punsubscribe", self.patterns),
                ("sunsubscribe", self.shard_channels),
            ):
                if names:
                    await self._change(kind, (), names)
            if self._conn.protocol_version == 2:
                self._proto.resp2_pubsub = False
        self._closed = True
        if self._paused:
            self._paused = False
            self._proto.resume_reading()
        self._conn._pubsub = None
        self._wake()

    async def __aenter__(self) -> PubSub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

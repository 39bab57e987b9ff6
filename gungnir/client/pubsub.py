"""Pub/sub on a connection: SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE and an async iterator of
messages.

On RESP3 (the default) messages are push frames, so one connection carries pub/sub and
ordinary commands at once: the reader hands pushes to a separate path and they can never be
taken for a reply.  Subscribe confirmations are pushes too; the protocol matches them to
the pending SUBSCRIBE so ``await ps.subscribe(...)`` returns once the server confirmed every
channel.  On RESP2 a subscribed connection can carry nothing else (Valkey's rule), so give
pub/sub its own connection there.

Delivery is in order, and memory is bounded without starving anyone:

* **Back-pressure.**  When the consumer is ``max_queued`` messages behind, the connection
  stops reading (TCP back-pressure) until the queue is down to ``max_queued // 2``, rather
  than buffering without bound; the server's client-output-buffer limit then decides, as
  for any slow subscriber.
* **Replies are never held.**  While any request on the connection awaits its reply — an
  ordinary command sharing the connection, a (P|S)UNSUBSCRIBE, the unsubscribes of
  :meth:`PubSub.aclose` — the connection reads regardless, because that reply is behind
  every push the server sent before it.  (Holding it would hang the caller; if the caller
  is the consumer itself, forever.)  Messages read meanwhile are queued as usual.
* **Hard limit.**  Past ``max_queued + max_overflow`` queued messages, further messages
  are dropped — never silently: the count is kept in :attr:`PubSub.dropped`, and the
  consumer gets :class:`PubSubOverflowError` from ``get_message``/iteration at the place in
  the stream where they are missing, after every message queued before the gap.  The limit
  is reached while replies keep reading open (a steady stream of commands on the same
  connection), or if ``max_overflow`` is smaller than the rest of the read in which the
  pause began, which is parsed whole: a read is at most 256 KiB, fewer than 9,000 of the
  smallest messages, so the default covers it.  Dropping rather than closing the
  connection keeps the other callers' commands working; pub/sub is at-most-once delivery
  anyway, and this makes each loss visible where it happened.
* **Closing.**  Once :meth:`PubSub.aclose` has begun, messages that arrive before the
  server confirms the unsubscribes are discarded (counted in :attr:`PubSub.discarded`):
  the consumer asked to stop, and a backlog must not make closing overflow or hang.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import PubSubOverflowError
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


class _Gap:
    """Queue marker: ``count`` messages were dropped here (the hard limit was reached)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 1


class PubSub:
    """Subscriptions and the message queue of one connection (at most one per connection).

    ``max_queued``: messages queued before reading pauses (back-pressure).  ``max_overflow``:
    how many more may queue while replies keep the connection reading; past that, messages
    are dropped and reported (see the module docstring).
    """

    def __init__(
        self, conn: Connection, *, max_queued: int = 10_000, max_overflow: int = 10_000
    ) -> None:
        if conn._pubsub is not None:
            raise RuntimeError(f"{conn!r} already has a PubSub")
        if max_queued < 1 or max_overflow < 0:
            raise ValueError("max_queued must be >= 1 and max_overflow >= 0")
        self._conn = conn
        self._proto = conn._proto
        self._loop = asyncio.get_running_loop()
        self.max_queued = max_queued
        self.max_overflow = max_overflow
        self.channels: set[Any] = set()
        self.patterns: set[Any] = set()
        self.shard_channels: set[Any] = set()
        #: Messages dropped at the hard limit, in total (each gap is also raised in order).
        self.dropped = 0
        #: Messages discarded because they arrived while aclose() was unsubscribing.
        self.discarded = 0
        self._queue: deque[Message | _Gap] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()
        self._paused = False
        self._closing = False
        self._closed = False
        conn._pubsub = self
        self._proto._lost.add_done_callback(lambda _f: self._wake())

    # -- called by the connection, in stream order ------------------------------------------

    def _handle_push(self, push: list[Any]) -> bool:
        kind = push_kind(push)
        if kind == "message" or kind == "smessage":
            msg = Message(kind, push[1], push[2])
        elif kind == "pmessage":
            msg = Message(kind, push[2], push[3], pattern=push[1])
        elif kind in _ADD:
            getattr(self, _ADD[kind]).add(push[1])
            return True
        elif kind in _DROP:
            if push[1] is not None:
                getattr(self, _DROP[kind]).discard(push[1])
            return True
        else:
            return False
        if self._closing:
            self.discarded += 1
            return True
        queue = self._queue
        if len(queue) < self.max_queued + self.max_overflow:
            queue.append(msg)
        else:
            # Past the pause point only replies being awaited (or the rest of the current
            # read) keep messages coming; this bounds them.  One marker per gap, so the
            # queue never holds more than limit + 1 entries.
            self.dropped += 1
            last = queue[-1] if queue else None
            if isinstance(last, _Gap):
                last.count += 1
            else:
                queue.append(_Gap())
        if len(queue) >= self.max_queued and not self._paused:
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

        Raises the connection's error if it is lost with nothing left to deliver, and
        :class:`PubSubOverflowError` where messages were dropped at the hard limit (the
        next call goes on with the messages after the gap).
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
        if isinstance(msg, _Gap):
            raise PubSubOverflowError(
                self._conn.address, msg.count, self.max_queued + self.max_overflow
            )
        return msg

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        msg = await self.get_message()
        if msg is None:
            raise StopAsyncIteration
        return msg

    async def aclose(self) -> None:
        """Unsubscribe from everything and detach from the connection.

        Messages arriving until the server confirms are discarded (see :attr:`discarded`);
        those queued before the call stay readable with ``get_message``.  The unsubscribes
        are awaited like any reply (bounded by the connection's ``command_timeout``), and
        back-pressure never holds them.
        """
        if self._closed:
            return
        self._closing = True
        try:
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
        finally:
            self._closing = False
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

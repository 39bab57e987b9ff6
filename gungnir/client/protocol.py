"""The wire layer: an ``asyncio.Protocol`` that owns one socket, the codec's ``Reader`` and
the FIFO of callers waiting for replies.

Why a Protocol and not streams: replies are parsed straight out of ``data_received`` and
handed to the waiting futures without an intermediate ``await`` per reply, and writes issued
in the same loop tick are joined into a single ``transport.write`` (automatic pipelining).

The invariant that keeps the connection in sync is simple and absolute: *every byte string
sent adds exactly one entry to the FIFO, and every reply that arrives consumes exactly one
entry*.  Nothing ever removes an entry early.  A caller that is cancelled or times out
leaves its future in the FIFO in the ``done`` state; when its reply arrives it is read and
dropped.  So the next caller can never be handed someone else's reply, whatever gets
cancelled when.

FIFO entries are one of:

* an ``asyncio.Future`` — one command, one reply;
* a :class:`Batch` — an explicit pipeline of ``n`` commands resolved by one future with the
  list of ``n`` replies (one future instead of ``n`` is most of the pipeline speed);
* a :class:`SubscribeSlot` — a (P|S)SUBSCRIBE or UNSUBSCRIBE whose confirmations arrive as
  RESP3 push frames (or RESP2 arrays on a subscribed connection) rather than as replies.

Reading can be *held* by a push consumer (pub/sub back-pressure, :meth:`pause_reading`), but
never while an entry is in the FIFO: a reply always sits behind every push the server sent
before it, so holding reading then would starve that caller for good (and the consumer may
be the very task awaiting it).  The hold takes effect once the FIFO is empty and is lifted
for as long as a request is outstanding; what is read meanwhile is the consumer's to bound.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from ..resp import NEED_DATA, ProtocolError, Push, ReplyError
from .errors import Address, ConnectionClosedError, ConnectionLostError

__all__ = ["Batch", "RespProtocol", "SubscribeSlot"]

log = logging.getLogger("gungnir.client")

#: Push kinds that confirm (un)subscriptions; a SubscribeSlot waits for these.
SUBSCRIBE_KINDS = frozenset(
    ["subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"]
)
#: First elements of RESP2 arrays that are pub/sub traffic on a subscribed connection.
_RESP2_PUBSUB_KINDS = frozenset(
    [k.encode() for k in SUBSCRIBE_KINDS | {"message", "pmessage", "smessage"}]
    + list(SUBSCRIBE_KINDS | {"message", "pmessage", "smessage"})
)


#: (option, value) for TCP keepalive where the platform has them: first probe after 30 s
#: idle, then every 10 s, give up after 3 unanswered.
_KEEPALIVE = [
    (getattr(socket, name), value)
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
    if hasattr(socket, name)
]


class Batch:
    """FIFO entry for ``n`` pipelined commands answered by one future (list of replies)."""

    __slots__ = ("future", "n", "results")

    def __init__(self, future: asyncio.Future[list[Any]], n: int) -> None:
        self.future = future
        self.n = n
        self.results: list[Any] = []


class SubscribeSlot:
    """FIFO entry for a subscribe-family command confirmed by ``remaining`` pushes."""

    __slots__ = ("future", "kind", "remaining")

    def __init__(self, future: asyncio.Future[None], kind: str, remaining: int) -> None:
        self.future = future
        self.kind = kind
        self.remaining = remaining


def push_kind(push: list[Any]) -> str:
    """The kind of a push frame as ``str`` (it is bytes unless the reader decodes)."""
    if not push:
        return ""
    kind = push[0]
    if isinstance(kind, bytes):
        return kind.decode("ascii", "replace")
    return str(kind)


class RespProtocol(asyncio.Protocol):
    """One Valkey connection: writes commands, matches replies to the FIFO of waiters."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        address: Address,
        reader_factory: Callable[[Callable[[Any], None]], Any],
    ) -> None:
        self._loop = loop
        self.address = address
        self._reader = reader_factory(self._on_push)
        self._waiters: deque[Any] = deque()
        self._wbuf: list[bytes] = []
        self._flush_scheduled = False
        self._transport: asyncio.Transport | None = None
        #: Set once the connection is unusable; the reason every later call is refused.
        self._error: BaseException | None = None
        self._closing_by_us = False
        self._lost: asyncio.Future[None] = loop.create_future()
        self._future_type = type(self._lost)
        #: Called with every push frame that is not only a subscribe confirmation.
        self.push_callback: Callable[[list[Any]], None] | None = None
        #: On a RESP2 connection that is subscribed, arrays with a pub/sub kind are pushes.
        self.resp2_pubsub = False
        #: Totals for tests and metrics: writes issued, bytes in them.
        self.writes = 0
        self.bytes_written = 0
        #: A push consumer asked for reading to stop (see pause_reading).
        self._hold_reading = False
        #: The transport is paused right now (only ever while held and the FIFO is empty).
        self._reading_paused = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # Keepalive so a peer that vanished (power loss, partition) is noticed in
                # about a minute even on an idle connection, not after the OS's two hours.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                for opt, value in _KEEPALIVE:
                    sock.setsockopt(socket.IPPROTO_TCP, opt, value)
            except OSError:  # pragma: no cover - platform without the options
                pass

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            try:
                if self.resp2_pubsub:
                    self._process_resp2_pubsub()
                else:
                    self._process()
                break
            except ProtocolError as exc:
                self._fail(exc)
                return
            except UnicodeDecodeError as exc:
                # The reader consumed the whole reply and stays usable: the error is that
                # one request's answer.  Deliver it and go on with the rest of the data.
                self._deliver_undecodable(exc)
            except Exception as exc:  # pragma: no cover - a codec bug; never hang waiters
                self._fail(exc)
                return
        if self._hold_reading and not self._waiters:
            self._apply_hold()  # the last outstanding reply is in: the consumer's hold resumes

    def _process(self) -> None:
        """Hand every complete reply in the reader to its waiter (the hot loop)."""
        gets = self._reader.gets
        waiters = self._waiters
        fut_type = self._future_type
        while True:
            reply = gets()
            if reply is NEED_DATA:
                return
            if not waiters:
                raise ProtocolError(f"{self._where()}: reply {reply!r:.80} with no request")
            w = waiters[0]
            if w.__class__ is fut_type:
                waiters.popleft()
                if w.done():  # cancelled or timed out: drop its reply, stay in sync
                    continue
                if isinstance(reply, ReplyError):
                    w.set_exception(reply)
                else:
                    w.set_result(reply)
            elif w.__class__ is Batch:
                results = w.results
                results.append(reply)
                n = w.n
                while len(results) < n:  # the rest of the batch, without re-dispatching
                    reply = gets()
                    if reply is NEED_DATA:
                        return
                    results.append(reply)
                waiters.popleft()
                if not w.future.done():
                    w.future.set_result(results)
            else:
                self._reply_to_subscribe(w, reply)

    def _process_resp2_pubsub(self) -> None:
        """On a subscribed RESP2 connection, pub/sub arrays are pushes, the rest replies."""
        gets = self._reader.gets
        waiters = self._waiters
        while True:
            reply = gets()
            if reply is NEED_DATA:
                return
            if type(reply) is list and reply and reply[0] in _RESP2_PUBSUB_KINDS:
                self._on_push(Push(reply))
                continue
            if not waiters:
                raise ProtocolError(f"{self._where()}: reply {reply!r:.80} with no request")
            w = waiters[0]
            if w.__class__ is Batch:
                w.results.append(reply)
                if len(w.results) < w.n:
                    continue
                waiters.popleft()
                if not w.future.done():
                    w.future.set_result(w.results)
                continue
            if w.__class__ is SubscribeSlot:
                self._reply_to_subscribe(w, reply)
                continue
            waiters.popleft()
            if not w.done():
                if isinstance(reply, ReplyError):
                    w.set_exception(reply)
                else:
                    w.set_result(reply)

    def _reply_to_subscribe(self, slot: SubscribeSlot, reply: Any) -> None:
        # A plain reply where subscribe confirmations were due is that command's error
        # (NOPERM, wrong arguments): the server sent no pushes for it.
        self._waiters.popleft()
        if not slot.future.done():
            if isinstance(reply, ReplyError):
                slot.future.set_exception(reply)
            else:
                slot.future.set_result(None)

    def _deliver_undecodable(self, exc: UnicodeDecodeError) -> None:
        if not self._waiters:
            self._fail(ProtocolError(f"{self._where()}: undecodable reply with no request"))
            return
        w = self._waiters[0]
        if w.__class__ is Batch:
            w.results.append(exc)  # reported in its position, like an error reply
            if len(w.results) < w.n:
                return
            self._waiters.popleft()
            if not w.future.done():
                w.future.set_result(w.results)
            return
        self._waiters.popleft()
        fut = w if w.__class__ is self._future_type else w.future
        if not fut.done():
            fut.set_exception(exc)

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost fails the waiters

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._error is None:
            if self._closing_by_us:
                self._error = ConnectionClosedError(self.address, "connection closed by client")
            else:
                why = f": {exc}" if exc else " by the server"
                self._error = ConnectionLostError(self.address, f"connection closed{why}")
        self._fail_waiters()
        if not self._lost.done():
            self._lost.set_result(None)

    # -- pushes ------------------------------------------------------------------------------

    def _on_push(self, push: list[Any]) -> None:
        """Route one push frame; called by the reader in stream order."""
        kind = push_kind(push)
        if kind in SUBSCRIBE_KINDS:
            waiters = self._waiters
            if waiters:
                w = waiters[0]
                if w.__class__ is SubscribeSlot and w.kind == kind:
                    w.remaining -= 1
                    if w.remaining <= 0:
                        waiters.popleft()
                        if not w.future.done():
                            w.future.set_result(None)
        cb = self.push_callback
        if cb is not None:
            try:
                cb(push)
            except Exception:  # a broken handler must not desynchronise the connection
                log.exception("%s: push handler failed", self._where())

    # -- sending -----------------------------------------------------------------------------

    def send(self, data: bytes, entry: Any) -> None:
        """Queue ``data`` for this tick's write and ``entry`` for its reply(ies)."""
        if self._error is not None:
            raise self._refusal()
        self._wbuf.append(data)
        self._waiters.append(entry)
        if self._reading_paused:
            self.unpause_for_reply()
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def send_no_reply(self, data: bytes) -> None:
        """Queue bytes that produce no reply in FIFO order (used by nothing hot)."""
        if self._error is not None:
            raise self._refusal()
        self._wbuf.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        buf = self._wbuf
        if not buf:
            return
        transport = self._transport
        if transport is None or self._error is not None:
            buf.clear()  # the waiters were (or will be) failed by connection_lost/_fail
            return
        data = buf[0] if len(buf) == 1 else b"".join(buf)
        buf.clear()
        self.writes += 1
        self.bytes_written += len(data)
        transport.write(data)

    # -- state -------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """FIFO entries still expecting replies (including abandoned ones being drained)."""
        return len(self._waiters)

    @property
    def is_closed(self) -> bool:
        return self._error is not None

    @property
    def reading_paused(self) -> bool:
        """The socket is not being read right now (a consumer's hold, nothing outstanding)."""
        return self._reading_paused

    def pause_reading(self) -> None:
        """Hold reading for a push consumer that is behind (pub/sub back-pressure).

        Takes effect at once if no reply is outstanding, otherwise as soon as the last one
        has arrived; a request sent while held reopens reading until its reply is in.
        """
        self._hold_reading = True
        if not self._waiters:
            self._apply_hold()

    def resume_reading(self) -> None:
        """Lift the consumer's hold."""
        self._hold_reading = False
        if self._reading_paused:
            self._reading_paused = False
            if self._transport is not None:
                self._transport.resume_reading()

    def _apply_hold(self) -> None:
        if not self._reading_paused and self._transport is not None and self._error is None:
            self._reading_paused = True
            self._transport.pause_reading()

    def unpause_for_reply(self) -> None:
        """Read again, hold or not: a request was just queued and its reply is behind
        whatever the server has sent since reading stopped."""
        if self._reading_paused:
            self._reading_paused = False
            if self._transport is not None:
                self._transport.resume_reading()

    def abandon(self, reason: str) -> None:
        """Give the connection up (e.g. a probe timed out): outstanding callers get
        ConnectionLostError with ``reason``; later calls are refused."""
        if self._error is None:
            self._error = ConnectionLostError(self.address, reason)
        self._fail_waiters()
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        """Close now; every outstanding caller gets ConnectionClosedError."""
        if self._error is None:
            self._closing_by_us = True
            self._error = ConnectionClosedError(self.address, "connection closed by client")
        self._fail_waiters()
        if self._transport is not None:
            self._transport.close()
        elif not self._lost.done():
            self._lost.set_result(None)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._lost)

    def _fail(self, exc: BaseException) -> None:
        """A fatal error (protocol violation): fail everyone and drop the connection."""
        if self._error is None:
            self._error = exc
        self._fail_waiters()
        if self._transport is not None:
            self._transport.abort()

    def _fail_waiters(self) -> None:
        waiters = self._waiters
        n = len(waiters)
        while waiters:
            w = waiters.popleft()
            fut = w if w.__class__ is self._future_type else w.future
            if not fut.done():
                fut.set_exception(self._waiter_error(n))
        self._wbuf.clear()

    def _waiter_error(self, outstanding: int) -> BaseException:
        err = self._error
        if isinstance(err, ConnectionLostError):
            return ConnectionLostError(
                self.address, f"{err.reason} with {outstanding} repl(ies) outstanding"
            )
        if isinstance(err, ConnectionClosedError):
            return ConnectionClosedError(self.address, err.reason)
        lost = ConnectionLostError(self.address, f"connection dropped after {err}")
        lost.__cause__ = err
        return lost

    def _refusal(self) -> BaseException:
        err = self._error
        if isinstance(err, ConnectionClosedError) and not isinstance(err, ConnectionLostError):
            return ConnectionClosedError(self.address, err.reason)
        reason = err.reason if isinstance(err, ConnectionLostError) else str(err)
        return ConnectionClosedError(self.address, f"connection is closed ({reason})")

    def _where(self) -> str:
        host, port = self.address
        return f"{host}:{port}"

"""A single Valkey connection: connect + handshake, ``execute``, timeouts, close.

One :class:`Connection` may be shared by any number of tasks: their commands are pipelined
automatically (everything issued in one loop tick goes out in one write) and replies are
matched in order.  Commands that need the connection to themselves — WATCH, blocking pops,
``CLIENT TRACKING`` redirection — want an exclusive connection from a :class:`Pool`.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..resp import NoProtoError, Reader, ReplyError, pack_command, pack_commands
from ._guard import check_raw
from .commands import CommandsMixin
from .errors import (
    Address,
    ClientError,
    CommandTimeoutError,
    ConnectError,
    ConnectTimeoutError,
)
from .pipeline import Pipeline, Transaction
from .protocol import Batch, RespProtocol, SubscribeSlot

__all__ = ["DEFAULT_LIMITS", "Connection", "connect"]

#: Extra Reader limits (max_depth, max_bulk_len, max_elements).  Empty: the codec's
#: defaults, which allow Valkey's largest bulk string (512 MB) yet stay bounded.
DEFAULT_LIMITS: dict[str, int] = {}

PushHandler = Callable[[list[Any]], None]
InvalidationHandler = Callable[[list[Any] | None], None]


def _expire(fut: asyncio.Future[Any], proto: RespProtocol, timeout: float, close: bool) -> None:
    if fut.done():
        return
    fut.set_exception(CommandTimeoutError(proto.address, f"no reply within {timeout:g}s"))
    if close:
        proto.abandon(f"closed after a command got no reply within {timeout:g}s")


async def _with_timeout(conn: Connection, fut: asyncio.Future[Any], delay: float) -> Any:
    # A timer on the future rather than asyncio.wait_for: no extra task, and the future
    # (hence its FIFO slot) stays in place so the late reply is drained, not misdelivered.
    handle = conn._loop.call_later(delay, _expire, fut, conn._proto, delay, conn.close_on_timeout)
    try:
        return await fut
    finally:
        handle.cancel()


async def _apply(aw: Awaitable[Any], cb: Callable[[Any], Any]) -> Any:
    return cb(await aw)


_UNSET: Any = object()


class Connection(CommandsMixin):
    """A connected, authenticated Valkey connection.  Create it with :func:`connect`."""

    def __init__(
        self,
        protocol: RespProtocol,
        *,
        loop: asyncio.AbstractEventLoop,
        command_timeout: float | None,
        decode_responses: bool,
        encoding: str,
        close_on_timeout: bool = False,
    ) -> None:
        self._proto = protocol
        self._loop = loop
        self.address: Address = protocol.address
        self.command_timeout = command_timeout
        #: Close the connection when a command times out, instead of draining the late
        #: reply: right for probes (a silent node is dropped and redialled), wrong for
        #: legitimately slow commands sharing the connection.
        self.close_on_timeout = close_on_timeout
        self.decode_responses = decode_responses
        self.encoding = encoding
        #: RESP version negotiated (3, or 2 after a NOPROTO fallback).
        self.protocol_version = 3
        #: The HELLO reply (server, version, proto, id, mode, role, modules); {} on RESP2.
        self.server: dict[str, Any] = {}
        self.push_handler: PushHandler | None = None
        self.invalidation_handler: InvalidationHandler | None = None
        self._pubsub: Any = None
        self.last_used = loop.time()
        protocol.push_callback = self._dispatch_push

    # -- commands ----------------------------------------------------------------------------

    def execute(self, *args: Any, timeout: float | None = _UNSET) -> Awaitable[Any]:
        """Send one command; await the result for its reply.

        A ``ReplyError`` reply is raised.  ``timeout`` (default: the connection's
        ``command_timeout``) raises :class:`CommandTimeoutError`; the connection stays in
        sync either way.
        """
        check_raw(args)
        proto = self._proto
        fut = self._loop.create_future()
        proto.send(pack_command(*args), fut)
        if timeout is _UNSET:
            timeout = self.command_timeout
        if timeout is None:
            return fut
        return _with_timeout(self, fut, timeout)

    def _cmd(self, args: tuple[Any, ...], cb: Callable[[Any], Any] | None) -> Any:
        # The typed helpers' path: execute() inlined, since this is the per-command cost.
        proto = self._proto
        if proto._error is not None:
            raise proto._refusal()
        data = pack_command(*args)
        fut = self._loop.create_future()
        proto._wbuf.append(data)
        proto._waiters.append(fut)
        if proto._reading_paused:  # pub/sub back-pressure must not starve this reply
            proto.unpause_for_reply()
        if not proto._flush_scheduled:
            proto._flush_scheduled = True
            self._loop.call_soon(proto._flush)
        timeout = self.command_timeout
        if timeout is None:
            return fut if cb is None else _apply(fut, cb)
        aw = _with_timeout(self, fut, timeout)
        return aw if cb is None else _apply(aw, cb)

    def execute_many(
        self, commands: Sequence[Sequence[Any]], *, timeout: float | None = _UNSET
    ) -> Awaitable[list[Any]]:
        """Send ``commands`` in one write; the result is the list of raw replies.

        Error replies are returned in place (not raised): a pipeline reports per position.
        """
        for cmd in commands:
            check_raw(cmd)
        return self._batch(commands, timeout)

    def _batch(
        self, commands: Sequence[Sequence[Any]], timeout: float | None = _UNSET
    ) -> Awaitable[list[Any]]:
        n = len(commands)
        fut: asyncio.Future[list[Any]] = self._loop.create_future()
        if n == 0:
            fut.set_result([])
            return fut
        self._proto.send(pack_commands(commands), Batch(fut, n))
        if timeout is _UNSET:
            timeout = self.command_timeout
        if timeout is None:
            return fut
        return _with_timeout(self, fut, timeout)

    def _send_subscribe(self, kind: str, args: Sequence[Any], confirmations: int) -> Any:
        fut: asyncio.Future[None] = self._loop.create_future()
        self._proto.send(pack_command(kind.upper(), *args), SubscribeSlot(fut, kind, confirmations))
        timeout = self.command_timeout
        if timeout is None:
            return fut
        return _with_timeout(self, fut, timeout)

    def pipeline(self, *, raise_on_error: bool = True) -> Pipeline:
        """A batch of commands sent in one write, replies returned per position."""
        return Pipeline(self, raise_on_error=raise_on_error)

    def transaction(self, *, raise_on_error: bool = True) -> Transaction:
        """MULTI/EXEC batch; ``await tx.watch(...)`` first for optimistic locking."""
        return Transaction(self, raise_on_error=raise_on_error)

    def pubsub(self, *, max_queued: int = 10_000, max_overflow: int = 10_000) -> Any:
        """Pub/sub on this connection (RESP3: shares it with ordinary commands).

        ``max_queued`` / ``max_overflow``: the back-pressure point and the hard limit's
        margin, as for :class:`~gungnir.client.pubsub.PubSub`.
        """
        from .pubsub import PubSub

        return PubSub(self, max_queued=max_queued, max_overflow=max_overflow)

    # -- pushes ------------------------------------------------------------------------------

    def _dispatch_push(self, push: list[Any]) -> None:
        kind = push[0] if push else None
        if kind in (b"invalidate", "invalidate"):
            handler = self.invalidation_handler
            if handler is not None:
                handler(push[1] if len(push) > 1 else None)
                return
        elif self._pubsub is not None and self._pubsub._handle_push(push):
            return
        if self.push_handler is not None:
            self.push_handler(push)

    # -- state -------------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._proto.is_closed

    @property
    def pending(self) -> int:
        """Replies still expected, including those of cancelled calls being drained."""
        return self._proto.pending

    def close(self) -> None:
        """Close at once; outstanding calls fail with ConnectionClosedError."""
        self._proto.close()

    async def wait_closed(self) -> None:
        await self._proto.wait_closed()

    async def aclose(self) -> None:
        self.close()
        await self.wait_closed()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self.is_closed else f"open, {self.pending} pending"
        return (
            f"<Connection {self.address[0]}:{self.address[1]} RESP{self.protocol_version} {state}>"
        )

    # -- handshake ---------------------------------------------------------------------------

    async def _handshake(
        self,
        protocol: int,
        username: str | None,
        password: str | None,
        client_name: str | None,
        db: int,
    ) -> None:
        if protocol == 3:
            hello: list[Any] = ["HELLO", 3]
            if password is not None:
                hello += ["AUTH", username or "default", password]
            if client_name:
                hello += ["SETNAME", client_name]
            # HELLO (with AUTH and SETNAME) is one round trip; SELECT rides in the same write.
            cmds: list[Sequence[Any]] = [hello]
            if db:
                cmds.append(["SELECT", db])
            replies = await self._batch(cmds, timeout=None)
            err = replies[0]
            if not isinstance(err, ReplyError):
                self.server = _decode_map(replies[0])
                self.protocol_version = 3
                _raise_first(replies[1:])
                return
            if not _is_noproto(err):
                raise err
        # RESP2: the server has no HELLO (or refused version 3).
        cmds = []
        if password is not None:
            cmds.append(["AUTH", username, password] if username else ["AUTH", password])
        if client_name:
            cmds.append(["CLIENT", "SETNAME", client_name])
        if db:
            cmds.append(["SELECT", db])
        self.protocol_version = 2
        self.server = {}
        if cmds:
            _raise_first(await self._batch(cmds, timeout=None))


def _is_noproto(err: ReplyError) -> bool:
    if isinstance(err, NoProtoError):
        return True
    text = str(err).lower()
    return "unknown command" in text and "hello" in text


def _raise_first(replies: Sequence[Any]) -> None:
    for r in replies:
        if isinstance(r, ReplyError):
            raise r


def _decode_map(reply: Any) -> dict[str, Any]:
    if isinstance(reply, list):  # a RESP2-shaped flat list
        reply = dict(zip(reply[::2], reply[1::2], strict=False))
    out: dict[str, Any] = {}
    if isinstance(reply, dict):
        for k, v in reply.items():
            key = k.decode() if isinstance(k, bytes) else str(k)
            out[key] = v.decode() if isinstance(v, bytes) else v
    return out


async def connect(
    host: str = "127.0.0.1",
    port: int = 6379,
    *,
    username: str | None = None,
    password: str | None = None,
    db: int = 0,
    client_name: str | None = None,
    protocol: int = 3,
    ssl: _ssl.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    connect_timeout: float | None = 10.0,
    command_timeout: float | None = None,
    close_on_timeout: bool = False,
    decode_responses: bool = False,
    encoding: str = "utf-8",
    push_handler: PushHandler | None = None,
    invalidation_handler: InvalidationHandler | None = None,
    limits: dict[str, int] | None = None,
) -> Connection:
    """Open a connection to ``host:port`` and complete the handshake.

    With ``protocol=3`` (the default) this sends ``HELLO 3 [AUTH u p] [SETNAME n]`` — one
    round trip — and falls back to RESP2 (``AUTH``, ``CLIENT SETNAME``) if the server
    answers NOPROTO.  ``SELECT`` is sent in the same write when ``db`` is not 0.

    Raises :class:`ConnectError` / :class:`ConnectTimeoutError` (with the address) when
    the server cannot be reached, and the server's ``ReplyError`` (e.g. ``WrongPassError``)
    when it refuses the handshake.
    """
    if protocol not in (2, 3):
        raise ValueError(f"protocol must be 2 or 3, not {protocol!r}")
    loop = asyncio.get_running_loop()
    address: Address = (host, port)
    lim: dict[str, Any] = dict(DEFAULT_LIMITS)
    if limits:
        lim.update(limits)
    encoding_arg = encoding if decode_responses else None

    def reader_factory(on_push: Callable[[Any], None]) -> Any:
        return Reader(encoding=encoding_arg, push_handler=on_push, **lim)

    if ssl is True:
        ssl = _ssl.create_default_context()
    ssl_arg = ssl or None
    transport: asyncio.BaseTransport | None = None
    try:
        async with asyncio.timeout(connect_timeout):
            transport, proto = await loop.create_connection(
                lambda: RespProtocol(loop, address, reader_factory),
                host,
                port,
                ssl=ssl_arg,
                server_hostname=(server_hostname or host) if ssl_arg else None,
            )
            conn = Connection(
                proto,
                loop=loop,
                command_timeout=command_timeout,
                decode_responses=decode_responses,
                encoding=encoding,
                close_on_timeout=close_on_timeout,
            )
            conn.push_handler = push_handler
            conn.invalidation_handler = invalidation_handler
            await conn._handshake(protocol, username, password, client_name, db)
            return conn
    except ClientError:
        _abort(transport)
        raise
    except ReplyError:
        _abort(transport)
        raise
    except TimeoutError as exc:
        _abort(transport)
        raise ConnectTimeoutError(address, f"not connected within {connect_timeout:g}s") from exc
    except (OSError, _ssl.SSLError) as exc:
        _abort(transport)
        raise ConnectError(address, f"cannot connect: {exc.strerror or exc}") from exc
    except BaseException:
        _abort(transport)
        raise


def _abort(transport: asyncio.BaseTransport | None) -> None:
    if transport is not None:
        transport.abort()  # type: ignore[attr-defined]

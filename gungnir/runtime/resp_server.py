"""A small RESP server on asyncio, built on our own codec (:mod:`gungnir.resp`).

Why a server at all: applications find their primary through Sentinel, and Sentinel is a RESP
endpoint. The daemon serves the Sentinel command set (see :mod:`gungnir.runtime.sentinel`)
and, later, its peer protocol on this one server, so everything generic lives here: framing,
the command table, the connection handshake (``HELLO``/``AUTH``/``CLIENT``), RESP2 versus
RESP3 replies per connection, pub/sub, ordering of pipelined replies, and limits.

Rules the code keeps, because a discovery endpoint that misbehaves takes applications down
with it:

* Replies leave in request order, even when a handler is a coroutine.
* A well-formed request always gets a reply; a handler that raises gets an ``ERR`` and the
  connection stays usable. Only a framing error (bytes that are not RESP requests) or a
  broken limit closes the connection, after an error reply, as Valkey does: after a framing
  error nothing later in the stream can be trusted.
* Memory per connection is bounded: the size of one request, the number of queued
  requests, and the reply backlog of a subscriber that does not read.

Handlers are plain callables ``handler(conn, args) -> reply`` where ``args`` is the request
as a list of ``bytes`` (``args[0]`` is the command name). A handler returns any value
:func:`gungnir.resp.encode` accepts (``SimpleString("OK")`` for ``+OK``, a ``ReplyError`` for
an error, ``dict`` for a map that RESP2 flattens, ...), a :class:`Frames` to send several
frames, a :class:`Raw` for a reply whose bytes differ per protocol in a way the encoder cannot
express, or an awaitable of any of those. It may raise :class:`CommandError`.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from gungnir import __version__
from gungnir.resp import Push, ReplyError, SimpleString, encode
from gungnir.runtime.globmatch import glob_match
from gungnir.runtime.resp_request import RequestError, RequestParser

__all__ = [
    "OK",
    "CommandError",
    "CommandSpec",
    "Frames",
    "Handler",
    "Raw",
    "RespConnection",
    "RespServer",
    "glob_match",
]

log = logging.getLogger(__name__)

OK = SimpleString("OK")

Handler = Callable[["RespConnection", list[bytes]], Any]

#: Commands a RESP2 connection in subscribed mode may still send (Valkey's rule).
_PUBSUB_CONTEXT_ERROR = (
    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
    "are allowed in this context"
)


class CommandError(Exception):
    """Raise from a handler to answer with an error reply.

    ``message`` is the whole error text including its code (``"ERR no such key"``,
    ``"NOQUORUM 1 usable Sentinels"``). A message without an upper-case code word gets
    ``ERR`` in front, as Valkey does.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Frames:
    """Several frames in answer to one request (SUBSCRIBE confirms each channel)."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class Raw:
    """Pre-encoded reply bytes, per protocol: an escape hatch for the few shapes the
    encoder has no value for (RESP2's null array ``*-1`` next to RESP3's ``_``)."""

    resp2: bytes
    resp3: bytes


@dataclass
class CommandSpec:
    """One entry of the command table.

    ``arity`` follows Valkey: positive means exactly that many words (name included),
    negative means at least that many. ``noauth`` commands run before authentication;
    ``pubsub`` commands run in RESP2 subscribed mode. A container (``SENTINEL``, ``CLIENT``)
    has ``subcommands`` and no handler of its own.
    """

    name: str
    handler: Handler | None
    arity: int
    noauth: bool = False
    pubsub: bool = False
    subcommands: dict[str, CommandSpec] = field(default_factory=dict)
    #: the full name used in error messages: "sentinel|master"
    full_name: str = ""


def error_text(message: str) -> str:
    """Make ``message`` a valid one-line error with a code word."""
    text = message.replace("\r", " ").replace("\n", " ")
    word = text.split(" ", 1)[0]
    if not (word and word.isupper() and word.replace("_", "A").isalnum()):
        text = "ERR " + text
    return text


def _arity_ok(arity: int, argc: int) -> bool:
    return argc == arity if arity >= 0 else argc >= -arity


def _show(arg: bytes, limit: int = 128) -> str:
    return arg[:limit].decode("utf-8", "replace")


class RespConnection(asyncio.Protocol):
    """One client connection: framing, ordered dispatch, per-connection protocol state."""

    def __init__(self, server: RespServer) -> None:
        self.server = server
        self.id = next(server._ids)
        self.protocol = 2
        self.name: bytes | None = None
        self.lib_name: bytes | None = None
        self.lib_ver: bytes | None = None
        self.user = "default"
        self.authenticated = server.auth is None
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.peer: Any = None
        self.closed = False
        self._transport: asyncio.Transport | None = None
        self._parser = server._new_parser()
        self._queue: deque[Any] = deque()
        self._busy = False
        self._closing_after_flush = False
        self._poisoned = False
        self._task: asyncio.Task[None] | None = None
        self._read_paused = False
        self._write_paused = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed on purpose: uvloop's transports implement the interface without
        # subclassing asyncio.Transport.
        tr = self._transport = cast(asyncio.Transport, transport)
        self.peer = tr.get_extra_info("peername")
        if len(self.server.clients) >= self.server.max_clients:
            tr.write(encode(ReplyError("ERR max number of clients reached"), protocol=2))
            tr.close()
            self.closed = True
            return
        self.server.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server._forget(self)
        self._queue.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()
        if not self._busy:
            self._process()

    def data_received(self, data: bytes) -> None:
        if self.closed or self._closing_after_flush or self._poisoned:
            return
        parser = self._parser
        parser.feed(data)
        while True:
            try:
                request = parser.gets()
            except RequestError as exc:
                # Answer the good requests before it first, then the error.
                self._poison(f"ERR Protocol error: {exc.message}")
                break
            if request is None:
                break
            self._queue.append(request)
        # The parser bounds one bulk string; this bounds a whole request.
        if not self._poisoned and parser.partial_bytes() > self.server.max_request_bytes:
            self._poison("ERR Protocol error: request too large")
        if not self._busy:
            self._process()
        self._update_reading()

    def _poison(self, message: str) -> None:
        self._queue.append(_Fatal(message))
        self._poisoned = True

    # -- dispatch --------------------------------------------------------------------------

    def _update_reading(self) -> None:
        """Stop reading while replies cannot leave or too many requests wait."""
        transport = self._transport
        if transport is None or self.closed:
            return
        want_pause = self._write_paused or len(self._queue) > self.server.max_queued
        if want_pause and not self._read_paused:
            transport.pause_reading()
            self._read_paused = True
        elif not want_pause and self._read_paused:
            transport.resume_reading()
            self._read_paused = False

    def _process(self) -> None:
        """Run queued requests in order; stop at the first one that must be awaited."""
        out: list[bytes] = []
        while self._queue and not self._busy and not self.closed:
            if self._closing_after_flush:
                self._queue.clear()
                break
            if self._write_paused and out:
                break
            request = self._queue.popleft()
            reply = self._run(request)
            if isinstance(reply, _Fatal):
                self._write(out)
                self._fatal(reply.message)
                return
            if inspect.isawaitable(reply):
                self._busy = True
                self._task = asyncio.ensure_future(self._await_reply(reply))
                break
            out.append(self.encode_reply(reply))
        self._write(out)
        if self._closing_after_flush and not self._busy and self._transport is not None:
            self._transport.close()
        self._update_reading()

    async def _await_reply(self, awaitable: Awaitable[Any]) -> None:
        try:
            reply = await awaitable
        except CommandError as exc:
            reply = ReplyError(error_text(exc.message))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("RESP handler failed")
            reply = ReplyError("ERR internal error while running the command")
        self._busy = False
        self._task = None
        if self.closed:
            return
        self._write([self.encode_reply(reply)])
        self._process()

    def _run(self, request: Any) -> Any:
        if isinstance(request, _Fatal):
            return request
        try:
            return self.server.dispatch(self, request)
        except CommandError as exc:
            return ReplyError(error_text(exc.message))
        except Exception:
            log.exception("RESP handler failed for %r", _show(request[0]))
            return ReplyError("ERR internal error while running the command")

    def encode_reply(self, reply: Any) -> bytes:
        if isinstance(reply, Frames):
            return b"".join([self.encode_reply(r) for r in reply.items])
        if isinstance(reply, Raw):
            return reply.resp3 if self.protocol == 3 else reply.resp2
        return encode(reply, protocol=self.protocol)

    def _write(self, chunks: list[bytes]) -> None:
        if chunks and self._transport is not None and not self.closed:
            self._transport.write(b"".join(chunks))

    def _fatal(self, message: str) -> None:
        """Answer a framing error and close: the rest of the stream cannot be trusted."""
        self._queue.clear()
        self._parser = self.server._new_parser()  # drop buffered garbage now
        if self._transport is not None and not self.closed:
            self._transport.write(encode(ReplyError(message), protocol=self.protocol))
            self._transport.close()
        self.closed = True
        self.server._forget(self)

    # -- helpers for handlers --------------------------------------------------------------

    @property
    def subscriptions(self) -> int:
        return len(self.channels) + len(self.patterns)

    @property
    def in_resp2_pubsub(self) -> bool:
        return self.protocol == 2 and self.subscriptions > 0

    def close_after_reply(self) -> None:
        """QUIT: send what is queued up to this reply, then close."""
        self._closing_after_flush = True

    def push(self, frame: list[Any]) -> None:
        """Send an out-of-band frame (a pub/sub message): a push in RESP3, an array in RESP2.

        A subscriber whose unread replies pass ``pubsub_buffer_limit`` is disconnected, as
        Valkey's client-output-buffer-limit does, so one stuck reader cannot grow the
        daemon's memory without bound.
        """
        transport = self._transport
        if transport is None or self.closed:
            return
        if transport.get_write_buffer_size() > self.server.pubsub_buffer_limit:
            log.warning("closing slow pub/sub client %s (id %d)", self.peer, self.id)
            transport.abort()
            self.closed = True
            self.server._forget(self)
            return
        value = Push(frame) if self.protocol == 3 else frame
        transport.write(encode(value, protocol=self.protocol))


@dataclass(frozen=True)
class _Fatal:
    """A queued framing error: answered in its place in the stream, then the close."""

    message: str


class RespServer:
    """Command table, connections and pub/sub registry; one per listening endpoint.

    ``auth`` is ``None`` (no authentication, every user may AUTH as ``default``) or a
    callable ``(username, password) -> bool``; ``password=`` is shorthand for the common
    single-password case (``requirepass``). ``mode`` and ``role`` appear in ``HELLO``.
    """

    def __init__(
        self,
        *,
        password: str | None = None,
        auth: Callable[[str, str], bool] | None = None,
        server_name: str = "gungnir",
        version: str = __version__,
        mode: str = "standalone",
        role: str | None = None,
        max_request_bytes: int = 4 * 1024 * 1024,
        max_queued: int = 1024,
        max_clients: int = 10_000,
        pubsub_buffer_limit: int = 8 * 1024 * 1024,
    ) -> None:
        if password is not None and auth is None:
            secret = password.encode()

            def auth(user: str, given: str) -> bool:
                ok = hmac.compare_digest(given.encode(), secret)
                return user == "default" and ok

        self.auth = auth
        self.server_name = server_name
        self.version = version
        self.mode = mode
        self.role = role
        self.max_request_bytes = max_request_bytes
        self.max_queued = max_queued
        self.max_clients = max_clients
        self.pubsub_buffer_limit = pubsub_buffer_limit
        self.commands: dict[str, CommandSpec] = {}
        self.clients: set[RespConnection] = set()
        self._channels: dict[bytes, set[RespConnection]] = {}
        self._patterns: dict[bytes, set[RespConnection]] = {}
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        from gungnir.runtime import resp_builtins  # the handshake and pub/sub commands

        resp_builtins.install(self)

    # -- command table ---------------------------------------------------------------------

    def register(
        self,
        name: str,
        handler: Handler | None,
        *,
        arity: int,
        noauth: bool = False,
        pubsub: bool = False,
    ) -> CommandSpec:
        """Add (or replace) a command. ``handler=None`` makes a container for subcommands."""
        key = name.lower()
        spec = CommandSpec(key, handler, arity, noauth, pubsub, full_name=key)
        old = self.commands.get(key)
        if old is not None and handler is None:
            spec.subcommands = old.subcommands
        self.commands[key] = spec
        return spec

    def register_subcommand(
        self, container: str, name: str, handler: Handler, *, arity: int, noauth: bool = False
    ) -> CommandSpec:
        """Add ``CONTAINER NAME``; ``arity`` counts the container word too (Valkey's way)."""
        parent = self.commands.get(container.lower())
        if parent is None:
            parent = self.register(container, None, arity=-2)
        key = name.lower()
        spec = CommandSpec(key, handler, arity, noauth, full_name=f"{parent.name}|{key}")
        parent.subcommands[key] = spec
        return spec

    def command(self, name: str, *, arity: int, **flags: bool) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`register`."""

        def deco(fn: Handler) -> Handler:
            self.register(name, fn, arity=arity, **flags)
            return fn

        return deco

    def dispatch(self, conn: RespConnection, args: list[bytes]) -> Any:
        """Find the handler for ``args``, check auth, context and arity, and call it."""
        raw_name = args[0]
        spec = self.commands.get(raw_name.decode("utf-8", "replace").lower())
        if spec is None:
            return ReplyError(_unknown_command(args))
        if not conn.authenticated and not spec.noauth:
            return ReplyError("NOAUTH Authentication required.")
        if conn.in_resp2_pubsub and not spec.pubsub:
            return ReplyError(_PUBSUB_CONTEXT_ERROR.format(spec.name))
        if spec.subcommands:
            if len(args) < 2:
                return ReplyError(f"ERR wrong number of arguments for '{spec.name}' command")
            sub = spec.subcommands.get(args[1].decode("utf-8", "replace").lower())
            if sub is None:
                return ReplyError(
                    f"ERR unknown subcommand '{_show(args[1])}'. Try {spec.name.upper()} HELP."
                )
            spec = sub
        if not _arity_ok(spec.arity, len(args)):
            return ReplyError(f"ERR wrong number of arguments for '{spec.full_name}' command")
        assert spec.handler is not None
        return spec.handler(conn, args)

    # -- pub/sub ---------------------------------------------------------------------------

    def subscribe(self, conn: RespConnection, channel: bytes, pattern: bool = False) -> bool:
        """Add a subscription; False when it already existed."""
        mine, table = self._tables(conn, pattern)
        if channel in mine:
            return False
        mine.add(channel)
        table.setdefault(channel, set()).add(conn)
        return True

    def unsubscribe(self, conn: RespConnection, channel: bytes, pattern: bool = False) -> bool:
        mine, table = self._tables(conn, pattern)
        if channel not in mine:
            return False
        mine.discard(channel)
        subs = table.get(channel)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del table[channel]
        return True

    def _tables(
        self, conn: RespConnection, pattern: bool
    ) -> tuple[set[bytes], dict[bytes, set[RespConnection]]]:
        if pattern:
            return conn.patterns, self._patterns
        return conn.channels, self._channels

    def publish(self, channel: bytes | str, message: bytes | str) -> int:
        """Deliver to every subscriber (exact and pattern); return how many received it."""
        ch = channel.encode() if isinstance(channel, str) else channel
        msg = message.encode() if isinstance(message, str) else message
        delivered = 0
        for conn in list(self._channels.get(ch, ())):
            conn.push([b"message", ch, msg])
            delivered += 1
        for pattern, conns in list(self._patterns.items()):
            if glob_match(pattern, ch):
                for conn in list(conns):
                    conn.push([b"pmessage", pattern, ch, msg])
                    delivered += 1
        return delivered

    def channels_matching(self, pattern: bytes | None = None) -> list[bytes]:
        return [c for c in self._channels if pattern is None or glob_match(pattern, c)]

    def _forget(self, conn: RespConnection) -> None:
        self.clients.discard(conn)
        for ch in list(conn.channels):
            self.unsubscribe(conn, ch)
        for pat in list(conn.patterns):
            self.unsubscribe(conn, pat, pattern=True)

    # -- serving ---------------------------------------------------------------------------

    def _new_parser(self) -> RequestParser:
        return RequestParser(max_bulk=self.max_request_bytes)

    async def start(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> int:
        """Listen; return the bound port (useful with ``port=0``)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: RespConnection(self), host, port, reuse_address=True, **kwargs
        )
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def sockets(self) -> Iterable[Any]:
        return self._server.sockets if self._server is not None else ()

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.clients):
            if conn._transport is not None:
                conn._transport.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


def _unknown_command(args: list[bytes]) -> str:
    """Valkey's text: the name and the start of the arguments, 128 characters at most."""
    shown = ""
    for arg in args[1:]:
        if len(shown) >= 128:
            break
        shown += f"'{_show(arg, 128 - len(shown))}' "
    return f"ERR unknown command '{_show(args[0])}', with args beginning with: {shown}"

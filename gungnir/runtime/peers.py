"""Peer links between daemons: authenticated, one outbound link per peer, messages as RESP.

Server side (commands on the daemon's RESP server, so one port serves Sentinel clients and
peers; a peer is told apart by its handshake, not by its port):

* ``GUNGNIR.NONCE`` -> a fresh random challenge for this connection;
* ``GUNGNIR.AUTH <name> <hmac>`` -> ``HMAC-SHA256(secret, nonce | name)``: proves the caller
  knows the shared secret without sending it, and binds the proof to this connection;
* ``GUNGNIR.MSG <json>`` and ``GUNGNIR.BEAT`` -> only after AUTH, and a message must name its
  authenticated sender (no daemon speaks for another).

Anything else from a connection that is not an authenticated, configured peer is refused,
counted, and the connection closed.  TLS wraps the whole endpoint when configured.

Client side: :class:`PeerLink` keeps one connection to one peer, sends queued messages in
order, beats when idle, and reports the link up or down (the core's ``PeerStatus``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import ssl
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from gungnir.client import Connection, ReplyError, connect
from gungnir.core import Message

from . import wire
from .config import TlsConfig
from .resp_server import OK, CommandError, RespConnection, RespServer

__all__ = ["PeerHub", "PeerLink", "client_tls", "server_tls"]

log = logging.getLogger("gungnir.peers")

Address = tuple[str, int]


def mac(secret: str, nonce: bytes, name: str) -> str:
    return hmac.new(secret.encode(), nonce + b"|" + name.encode(), hashlib.sha256).hexdigest()


def server_tls(tls: TlsConfig) -> ssl.SSLContext:
    """The endpoint's side: one port serves Sentinel clients and peers, so a client
    certificate is checked when presented but not required.  TLS here is therefore not
    mutual; a peer's identity comes from the HMAC handshake, never from its certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tls.ca)
    ctx.load_cert_chain(tls.cert, tls.key)
    ctx.verify_mode = ssl.CERT_OPTIONAL  # Sentinel clients may have no certificate
    return ctx


def client_tls(tls: TlsConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca)
    ctx.load_cert_chain(tls.cert, tls.key)
    ctx.check_hostname = tls.server_name is not None
    return ctx


class PeerHub:
    """The server half: authenticates peers and hands their messages to ``deliver``."""

    def __init__(
        self,
        me: str,
        peers: Mapping[str, Address],
        secret: str | None,
        deliver: Callable[[str, Message], None],
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.me = me
        self.on_refused = on_refused
        self.peers = frozenset(peers) - {me}
        self.secret = secret
        self.deliver = deliver
        self._nonce: weakref.WeakKeyDictionary[RespConnection, bytes] = weakref.WeakKeyDictionary()
        self._who: weakref.WeakKeyDictionary[RespConnection, str] = weakref.WeakKeyDictionary()
        self.refused = 0
        self.received = 0
        self.bad_messages = 0
        self.last_heard: dict[str, float] = {}

    def install(self, server: RespServer) -> None:
        server.register("gungnir.nonce", self._nonce_cmd, arity=1, noauth=True)
        server.register("gungnir.auth", self._auth_cmd, arity=3, noauth=True)
        server.register("gungnir.msg", self._msg_cmd, arity=2, noauth=True)
        server.register("gungnir.beat", self._beat_cmd, arity=1, noauth=True)

    def _count_refusal(self, reason: str) -> None:
        self.refused += 1
        if self.on_refused is not None:
            self.on_refused(reason)

    def _refuse(self, conn: RespConnection, why: str, reason: str) -> Any:
        """Refuse and close; ``reason`` is the metric's label (``PEER_REFUSALS``)."""
        self._count_refusal(reason)
        log.warning("refused peer connection from %s: %s", conn.peer, why)
        conn.close_after_reply()
        raise CommandError(f"NOPERM {why}")

    def _nonce_cmd(self, conn: RespConnection, args: list[bytes]) -> Any:
        nonce = os.urandom(16).hex().encode()
        self._nonce[conn] = nonce
        return nonce

    def _auth_cmd(self, conn: RespConnection, args: list[bytes]) -> Any:
        name = args[1].decode("utf-8", "replace")
        nonce = self._nonce.pop(conn, None)
        if self.secret is None:
            return self._refuse(conn, "this daemon has no peers", "no_peers")
        if nonce is None:
            return self._refuse(conn, "GUNGNIR.NONCE first", "no_nonce")
        if name not in self.peers:
            return self._refuse(conn, f"unknown peer {name!r}", "unknown_peer")
        expected = mac(self.secret, nonce, name).encode()
        if not hmac.compare_digest(expected, bytes(args[2])):
            return self._refuse(conn, f"bad secret from {name!r}", "bad_secret")
        self._who[conn] = name
        self.last_heard[name] = time.monotonic()
        return OK

    def _peer_of(self, conn: RespConnection) -> str:
        who = self._who.get(conn)
        if who is None:
            self._refuse(conn, "not an authenticated peer", "unauthenticated")
        assert who is not None
        self.last_heard[who] = time.monotonic()
        return who

    def _beat_cmd(self, conn: RespConnection, args: list[bytes]) -> Any:
        self._peer_of(conn)
        return OK

    def _msg_cmd(self, conn: RespConnection, args: list[bytes]) -> Any:
        who = self._peer_of(conn)
        try:
            msg = wire.decode(bytes(args[1]))
        except wire.WireError as exc:
            self.bad_messages += 1
            raise CommandError(f"ERR bad message: {exc}") from None
        if msg.sender != who:
            self._count_refusal("impersonation")
            raise CommandError(f"NOPERM {who} cannot send as {msg.sender}")
        self.received += 1
        self.deliver(who, msg)
        return OK


class AuthRefused(Exception):
    """The peer answered and refused our authentication (a wrong secret on one side)."""


class PeerLink:
    """One outbound link to one peer.  ``on_status(peer, up, answered)`` is called on every
    change: ``answered`` is True while the link is down only because the peer refuses our
    authentication.  That is an answer, not a partition (the core counts such a peer as
    present for the minority-side fencing rule), so it is reported from the latest attempt
    only, and a refused link is retried every ``beat_interval``: a refusing peer that
    becomes unreachable stops counting within one attempt, as fast as a healthy link
    notices a partition."""

    def __init__(
        self,
        me: str,
        peer: str,
        address: Address,
        secret: str,
        *,
        on_status: Callable[[str, bool, bool], None],
        beat_interval: float = 0.25,
        timeout: float = 1.0,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
        max_queue: int = 1000,
        max_age: float = 5.0,
    ) -> None:
        self.me = me
        self.peer = peer
        self.address = address
        self.secret = secret
        self.on_status = on_status
        self.beat_interval = beat_interval
        self.timeout = timeout
        self.tls = tls
        self.server_name = server_name
        self.max_age = max_age
        self.up = False
        self.refused = ""  # the peer's refusal of our authentication, while it refuses
        self.sent = 0
        self.dropped = 0
        self.last_error = ""
        self._queue: deque[tuple[float, bytes]] = deque(maxlen=max_queue)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Connection | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"peer-{self.peer}")

    def send(self, msg: Message) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append((time.monotonic(), wire.encode(msg)))
        self._wake.set()

    def _set(self, up: bool, refused: str = "") -> None:
        changed = up != self.up or bool(refused) != bool(self.refused)
        self.up, self.refused = up, refused
        if changed:
            self.on_status(self.peer, up, bool(refused))

    async def _connect(self) -> Connection:
        conn = await connect(
            self.address[0],
            self.address[1],
            connect_timeout=self.timeout,
            command_timeout=self.timeout,
            ssl=self.tls,
            server_hostname=self.server_name,
            client_name=f"gungnir-peer-{self.me}",
        )
        try:
            nonce = await conn.execute("GUNGNIR.NONCE")
            try:
                await conn.execute("GUNGNIR.AUTH", self.me, mac(self.secret, bytes(nonce), self.me))
            except ReplyError as exc:
                raise AuthRefused(str(exc)) from None
        except BaseException:
            conn.close()
            raise
        return conn

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                self._conn = await self._connect()
                backoff = 0.05
                self._set(True)
                await self._pump(self._conn)
            except asyncio.CancelledError:
                raise
            except AuthRefused as exc:
                self.last_error = f"authentication refused: {exc}"
                if not self.refused:
                    log.error(
                        "peer %s refuses this daemon's authentication (%s): is the peer "
                        "secret the same on both sides?",
                        self.peer,
                        exc,
                        extra={"peer": self.peer},
                    )
                self._set(False, str(exc))
                # Retried as often as heartbeats: the refusal counts only while fresh.
                await asyncio.sleep(self.beat_interval)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._set(False)
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                # A reconnect backoff, not a wait for a condition: the peer is gone.
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.beat_interval * 2)

    async def _pump(self, conn: Connection) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.beat_interval):
                        await self._wake.wait()
            now = time.monotonic()
            batch: list[bytes] = []
            while self._queue:
                t, payload = self._queue.popleft()
                if now - t <= self.max_age:
                    batch.append(payload)
                else:
                    self.dropped += 1
            if batch:
                replies = await conn.execute_many([("GUNGNIR.MSG", p) for p in batch])
                self.sent += len(batch)
                for r in replies:
                    if isinstance(r, Exception):
                        log.warning("peer %s rejected a message: %s", self.peer, r)
            else:
                await conn.execute("GUNGNIR.BEAT")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

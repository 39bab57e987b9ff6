"""A bounded pool of connections to one server, with fair waiting, health checks and
reconnection with capped, jittered exponential backoff.

Two ways to use it:

* ``await pool.get(k)``, ``await pool.execute(...)`` and the other helpers run on one
  *shared* connection that any number of tasks use at once (automatic pipelining makes that
  the fastest way), reopened with backoff whenever it is lost;
* ``async with pool.connection() as conn`` lends a connection to one task alone, for work
  that needs it: WATCH/MULTI, blocking pops, CLIENT TRACKING, a slow command that must not
  delay others.  At most ``max_size`` of these exist.

Fairness: when every connection is busy, acquirers queue FIFO and a released connection
(or a freed slot) is handed to the first waiter directly, so a newcomer can never barge in
front of a task that has been waiting.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from .commands import CommandsMixin
from .connection import Connection, connect
from .errors import ConnectionError, PoolClosedError, PoolTimeoutError

__all__ = ["Backoff", "Pool"]


class Backoff:
    """Capped exponential backoff with "equal jitter", sans-IO.

    The n-th consecutive failure waits ``d/2 + U(0, d/2)`` with ``d = min(cap, base*2**n)``:
    never less than half the nominal delay (so a flapping server is not hammered), never
    in lock-step with other clients.  ``rng`` returns floats in [0, 1); tests inject one.
    """

    def __init__(
        self, base: float = 0.05, cap: float = 5.0, rng: Callable[[], float] = random.random
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        """Record a failure; the delay before the next attempt."""
        d = min(self.cap, self.base * float(1 << min(self.failures, 62)))
        self.failures += 1
        jitter: float = self.rng()
        return d / 2 + jitter * d / 2

    def reset(self) -> None:
        self.failures = 0


_UNSET: Any = object()
_SLOT: Any = object()  # handed to a waiter: "a slot is yours, open a connection in it"


class Pool(CommandsMixin):
    """Up to ``max_size`` connections to ``host:port`` opened with :func:`connect`.

    ``connect_kwargs`` are passed to :func:`connect` (password, db, ssl, timeouts, ...).
    ``await pool.get(k)`` and the other helpers use the shared connection.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        max_size: int = 10,
        acquire_timeout: float | None = None,
        health_check_interval: float | None = 30.0,
        connect_attempts: int = 3,
        backoff: Backoff | None = None,
        **connect_kwargs: Any,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        if connect_attempts < 1:
            raise ValueError("connect_attempts must be >= 1")
        self.host = host
        self.port = port
        self.address = (host, port)
        self.max_size = max_size
        self.acquire_timeout = acquire_timeout
        self.health_check_interval = health_check_interval
        self.connect_attempts = connect_attempts
        self.backoff = backoff or Backoff()
        self._connect_kwargs = connect_kwargs
        self._idle: deque[Connection] = deque()
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._size = 0  # open + being opened + reserved for a waiter
        self._in_use: set[Connection] = set()
        self._retry_at = 0.0
        self._closed = False
        self._shared: Connection | None = None
        self._shared_attempt: asyncio.Future[Connection] | None = None
        #: Counters for tests and metrics.
        self.stats = {"created": 0, "connect_failures": 0, "health_failures": 0}

    @property
    def size(self) -> int:
        return self._size

    @property
    def idle(self) -> int:
        return len(self._idle)

    # -- acquire / release --------------------------------------------------------------------

    async def acquire(self) -> Connection:
        """A connection for the caller alone; give it back with :meth:`release`."""
        if self.acquire_timeout is None:
            return await self._acquire()
        try:
            async with asyncio.timeout(self.acquire_timeout) as deadline:
                return await self._acquire()
        except TimeoutError as exc:
            if not deadline.expired():
                raise  # a ConnectTimeoutError from opening a connection
            raise PoolTimeoutError(
                self.address, f"no connection within {self.acquire_timeout:g}s"
            ) from exc

    async def _acquire(self) -> Connection:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise PoolClosedError(self.address, "pool is closed")
            if self._idle and not self._waiters:
                conn = self._idle.pop()  # LIFO: the warmest connection
                if await self._healthy(conn, loop):
                    self._in_use.add(conn)
                    return conn
                continue
            if self._size < self.max_size and not self._waiters:
                self._size += 1
                return await self._open_in_slot()
            fut: asyncio.Future[Any] = loop.create_future()
            self._waiters.append(fut)
            try:
                got: Connection = await fut
            except BaseException:
                if fut.done() and not fut.cancelled():
                    self._give_back(fut.result())  # handed over as we were cancelled
                else:
                    try:
                        self._waiters.remove(fut)
                    except ValueError:
                        pass
                raise
            if got is _SLOT:
                return await self._open_in_slot()
            conn = got
            if await self._healthy(conn, loop):
                self._in_use.add(conn)
                return conn
            # unhealthy: its slot was freed by _healthy; go round again (we are first now)

    async def _open_in_slot(self) -> Connection:
        """Open a connection in a slot already counted in ``_size``."""
        try:
            conn = await self._connect()
        except BaseException:
            self._size -= 1
            self._hand_slot()
            raise
        self._in_use.add(conn)
        return conn

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        last: BaseException | None = None
        for _ in range(self.connect_attempts):
            wait = self._retry_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if self._closed:
                raise PoolClosedError(self.address, "pool is closed")
            try:
                conn = await connect(self.host, self.port, **self._connect_kwargs)
            except ConnectionError as exc:  # includes ConnectError; ReplyErrors are final
                last = exc
                self.stats["connect_failures"] += 1
                self._retry_at = loop.time() + self.backoff.next_delay()
                continue
            except TimeoutError as exc:
                last = exc
                self.stats["connect_failures"] += 1
                self._retry_at = loop.time() + self.backoff.next_delay()
                continue
            self.backoff.reset()
            self._retry_at = 0.0
            self.stats["created"] += 1
            return conn
        assert last is not None
        raise last

    async def _healthy(self, conn: Connection, loop: asyncio.AbstractEventLoop) -> bool:
        """False (and the slot freed) for a closed connection or one that fails PING."""
        if not conn.is_closed:
            interval = self.health_check_interval
            if interval is None or loop.time() - conn.last_used < interval:
                return True
            try:
                await conn.execute("PING", timeout=min(5.0, max(interval, 0.5)))
                return True
            except Exception:
                self.stats["health_failures"] += 1
                conn.close()
        self._size -= 1
        self._hand_slot()
        return False

    def release(self, conn: Connection) -> None:
        """Give a connection back; a closed one frees its slot for a new connection."""
        if conn not in self._in_use:
            return
        self._in_use.discard(conn)
        conn.last_used = asyncio.get_running_loop().time()
        self._give_back(conn)

    def _give_back(self, conn: Connection) -> None:
        if conn._pubsub is not None:
            # Still subscribed: its pushes would surprise the next borrower.  Drop it.
            conn.close()
        if self._closed or conn.is_closed:
            conn.close()
            self._size -= 1
            self._hand_slot()
            return
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(conn)
                return
        self._idle.append(conn)

    def _hand_slot(self) -> None:
        """A slot was freed: give it to the first waiter, which will open a connection."""
        while self._waiters and self._size < self.max_size:
            w = self._waiters.popleft()
            if not w.done():
                self._size += 1
                w.set_result(_SLOT)
                return

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """``async with pool.connection() as conn:`` — acquire, and always release."""
        conn = await self.acquire()
        try:
            yield conn
        finally:
            self.release(conn)

    # -- shared connection ----------------------------------------------------------------

    async def shared(self) -> Connection:
        """The pool's shared connection, (re)opened on demand with the pool's backoff.

        Any number of tasks use it at once (their commands are pipelined together); it is
        not counted in ``max_size``.  Concurrent callers during a reconnect wait for the same
        attempt instead of each dialling the server.
        """
        while True:
            conn = self._shared
            if conn is not None and not conn.is_closed:
                return conn
            if self._closed:
                raise PoolClosedError(self.address, "pool is closed")
            attempt = self._shared_attempt
            if attempt is None:
                attempt = asyncio.ensure_future(self._connect())
                attempt.add_done_callback(self._shared_opened)
                self._shared_attempt = attempt
            # shield: a caller that gives up does not cancel the attempt for the others.
            conn = await asyncio.shield(attempt)
            if not conn.is_closed:
                return conn

    def _shared_opened(self, attempt: asyncio.Future[Connection]) -> None:
        if self._shared_attempt is attempt:
            self._shared_attempt = None
        if attempt.cancelled() or attempt.exception() is not None:
            return
        conn = attempt.result()
        if self._closed:
            conn.close()
        else:
            self._shared = conn

    async def execute(self, *args: Any, timeout: Any = _UNSET) -> Any:  # noqa: ASYNC109
        """Run one command on the shared connection (see :meth:`shared`)."""
        conn = self._shared
        if conn is None or conn.is_closed:
            conn = await self.shared()
        if timeout is _UNSET:
            return await conn.execute(*args)
        return await conn.execute(*args, timeout=timeout)

    async def _run(self, args: tuple[Any, ...], cb: Callable[[Any], Any] | None) -> Any:
        reply = await self.execute(*args)
        return reply if cb is None else cb(reply)

    def _cmd(self, args: tuple[Any, ...], cb: Callable[[Any], Any] | None) -> Any:
        return self._run(args, cb)

    # -- shutdown -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close idle connections now and in-use ones as they come back; fail waiters."""
        self._closed = True
        if self._shared is not None:
            self._shared.close()
            self._shared = None
        if self._shared_attempt is not None:
            self._shared_attempt.cancel()
        while self._idle:
            self._idle.pop().close()
            self._size -= 1
        for conn in list(self._in_use):
            conn.close()
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_exception(PoolClosedError(self.address, "pool is closed"))

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

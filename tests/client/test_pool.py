"""Pool: size limit, FIFO-fair waiting, health checks, backoff, recovery after a restart."""

from __future__ import annotations

import asyncio
import signal

import pytest

from gungnir.client import (
    Backoff,
    ClientError,
    CommandTimeoutError,
    ConnectError,
    Pool,
    PoolClosedError,
    PoolTimeoutError,
    connect,
)
from gungnir.client import (
    ConnectionError as GConnectionError,
)

from .stub import until


def test_backoff_is_capped_jittered_and_resets():
    b = Backoff(base=0.1, cap=1.0, rng=lambda: 0.5)
    delays = [b.next_delay() for _ in range(6)]
    assert delays == pytest.approx([0.075, 0.15, 0.3, 0.6, 0.75, 0.75])
    b.reset()
    assert b.next_delay() == pytest.approx(0.075)
    low = Backoff(base=0.1, cap=1.0, rng=lambda: 0.0)
    high = Backoff(base=0.1, cap=1.0, rng=lambda: 0.999999)
    for _ in range(100):  # bounds hold even after very many failures
        lo, hi = low.next_delay(), high.next_delay()
        assert 0.05 <= lo <= 0.5 and lo <= hi <= 1.0
    with pytest.raises(ValueError):
        Backoff(base=1.0, cap=0.5)


def test_size_limit_is_respected(valkey_node, arun):
    async def main():
        pool = Pool(valkey_node.host, valkey_node.port, max_size=3)
        held = 0
        peak = 0

        async def user(i: int) -> bytes:
            nonlocal held, peak
            async with pool.connection() as conn:
                held += 1
                peak = max(peak, held)
                reply = await conn.echo(f"u{i}")
                await asyncio.sleep(0.005)
                held -= 1
                return reply

        got = await asyncio.gather(*(user(i) for i in range(30)))
        assert got == [f"u{i}".encode() for i in range(30)]
        assert peak == 3 and pool.size == 3
        assert pool.stats["created"] == 3
        await pool.aclose()

    arun(main())


def test_waiters_are_served_first_come_first_served(valkey_node, arun):
    async def main():
        pool = Pool(valkey_node.host, valkey_node.port, max_size=1)
        first = await pool.acquire()
        order: list[int] = []

        async def waiter(i: int) -> None:
            async with pool.connection():
                order.append(i)

        tasks = []
        for i in range(10):
            tasks.append(asyncio.ensure_future(waiter(i)))
            await until(lambda i=i: len(pool._waiters) == i + 1, what=f"waiter {i} queued")
        # A newcomer arriving now must queue behind them, not barge in.
        late = asyncio.ensure_future(waiter(99))
        await until(lambda: len(pool._waiters) == 11, what="the late waiter")
        pool.release(first)
        await asyncio.gather(*tasks, late)
        assert order == [*range(10), 99]
        await pool.aclose()

    arun(main())


def test_acquire_timeout_and_cancelled_waiter(valkey_node, arun):
    async def main():
        pool = Pool(valkey_node.host, valkey_node.port, max_size=1, acquire_timeout=0.1)
        conn = await pool.acquire()
        with pytest.raises(PoolTimeoutError) as info:
            await pool.acquire()
        assert info.value.address == (valkey_node.host, valkey_node.port)
        assert len(pool._waiters) == 0  # the timed-out waiter left the queue
        pool.acquire_timeout = None
        cancelled = asyncio.ensure_future(pool.acquire())
        await until(lambda: len(pool._waiters) == 1)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        pool.release(conn)
        again = await pool.acquire()  # the cancelled waiter did not swallow it
        assert again is conn
        pool.release(again)
        await pool.aclose()
        with pytest.raises(PoolClosedError):
            await pool.acquire()

    arun(main())


def test_health_check_replaces_a_dead_connection(valkey_node, arun):
    async def main():
        pool = Pool(valkey_node.host, valkey_node.port, max_size=2, health_check_interval=0)
        async with pool.connection() as conn:
            victim_id = await conn.client_id()
        admin = await connect(valkey_node.host, valkey_node.port)
        assert await admin.execute("CLIENT", "KILL", "ID", victim_id) == 1
        await until(lambda: conn.is_closed, what="the killed connection to notice")
        async with pool.connection() as fresh:
            assert fresh is not conn
            assert await fresh.client_id() != victim_id
        assert pool.size == 1
        await admin.aclose()
        await pool.aclose()

    arun(main())


def test_health_check_ping_fails_on_hung_server(valkey_node, arun):
    async def main():
        pool = Pool(
            valkey_node.host,
            valkey_node.port,
            max_size=1,
            health_check_interval=0,
            connect_timeout=0.3,
            connect_attempts=1,
            acquire_timeout=5,
        )
        async with pool.connection():
            pass
        valkey_node.kill(signal.SIGSTOP)
        try:
            with pytest.raises(ClientError):
                await pool.acquire()  # PING times out, the reconnect times out too
            assert pool.stats["health_failures"] == 1
            assert pool.size == 0
        finally:
            valkey_node.kill(signal.SIGCONT)
        assert await pool.ping() == b"PONG"
        await pool.aclose()

    arun(main())


def test_hung_server_times_out_then_recovers(valkey_node, arun):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port, command_timeout=0.2)
        await conn.set("k", "v")
        valkey_node.kill(signal.SIGSTOP)
        try:
            with pytest.raises(CommandTimeoutError) as info:
                await conn.get("k")
            assert info.value.address == (valkey_node.host, valkey_node.port)
        finally:
            valkey_node.kill(signal.SIGCONT)
        assert await conn.echo("back") == b"back"
        await conn.aclose()

    arun(main())


@pytest.mark.faults
def test_server_killed_and_restarted_mid_load(valkey_node, arun):
    """Clients recover; every call that failed got an error, none hung."""

    async def main():
        loop = asyncio.get_running_loop()
        pool = Pool(
            valkey_node.host,
            valkey_node.port,
            max_size=4,
            connect_timeout=1,
            command_timeout=2,
            connect_attempts=2,
            backoff=Backoff(base=0.02, cap=0.2),
        )
        outcomes = {"ok": 0, "error": 0}
        phase = {"restarted": False}
        ok_after_restart = 0
        stop = asyncio.Event()

        async def worker(w: int) -> None:
            nonlocal ok_after_restart
            for n in range(100_000):
                if stop.is_set():
                    return
                token = f"{w}:{n}"
                try:
                    if w % 2:  # half on the shared connection, half on exclusive ones
                        assert await pool.echo(token) == token.encode()
                    else:
                        async with pool.connection() as conn:
                            assert await conn.echo(token) == token.encode()
                    outcomes["ok"] += 1
                    if phase["restarted"]:
                        ok_after_restart += 1
                except (GConnectionError, TimeoutError) as exc:
                    assert getattr(exc, "address", None) == valkey_node.address
                    outcomes["error"] += 1
                    await asyncio.sleep(0.005)

        workers = [asyncio.ensure_future(worker(w)) for w in range(8)]
        await until(lambda: outcomes["ok"] > 500, limit=20, what="load to build up")
        valkey_node.kill()
        await until(lambda: outcomes["error"] > 0, limit=20, what="callers to see the failure")
        await loop.run_in_executor(None, valkey_node.start)
        phase["restarted"] = True
        await until(lambda: ok_after_restart > 500, limit=30, what="recovery after restart")
        stop.set()
        await asyncio.gather(*workers)
        await pool.aclose()
        return outcomes

    outcomes = arun(main())
    assert outcomes["ok"] > 1000 and outcomes["error"] > 0, outcomes


def test_connect_failure_is_retried_with_backoff_then_raised(arun):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    draws: list[float] = []

    def rng() -> float:
        draws.append(0.0)
        return 0.0

    async def main():
        pool = Pool(
            "127.0.0.1", port, connect_attempts=3, backoff=Backoff(base=0.01, cap=0.02, rng=rng)
        )
        with pytest.raises(ConnectError) as info:
            await pool.acquire()
        assert info.value.address == ("127.0.0.1", port)
        assert pool.stats["connect_failures"] == 3 and len(draws) == 3
        assert pool.size == 0
        await pool.aclose()

    arun(main())


def test_shared_connection_is_reopened_once_for_many_callers(valkey_node, arun):
    async def main():
        pool = Pool(valkey_node.host, valkey_node.port, max_size=1)
        assert await pool.set("k", "v") is True
        first = await pool.shared()
        victim = await first.client_id()
        admin = await connect(valkey_node.host, valkey_node.port)
        await admin.execute("CLIENT", "KILL", "ID", victim)
        await until(lambda: first.is_closed, what="the shared connection to drop")
        created = pool.stats["created"]
        got = await asyncio.gather(*(pool.get("k") for _ in range(50)))
        assert got == [b"v"] * 50
        assert pool.stats["created"] == created + 1  # one reconnect served all 50
        assert (await pool.shared()) is not first
        # The shared connection does not use up the exclusive slots.
        async with pool.connection() as exclusive:
            assert exclusive is not await pool.shared()
            assert await exclusive.echo("x") == b"x"
        await admin.aclose()
        await pool.aclose()
        with pytest.raises(PoolClosedError):
            await pool.get("k")

    arun(main())


def test_connection_returned_while_subscribed_is_not_reused(valkey_node, arun):
    async def main():
        pool = Pool(valkey_node.host, valkey_node.port, max_size=1)
        async with pool.connection() as conn:
            ps = conn.pubsub()
            await ps.subscribe("ch")
        assert conn.is_closed and pool.size == 0
        async with pool.connection() as fresh:
            assert fresh is not conn and fresh._pubsub is None
            assert await fresh.echo("clean") == b"clean"
        await pool.aclose()

    arun(main())


def test_probe_style_pool_redials_after_a_hang(valkey_node, arun):
    """close_on_timeout + the shared connection: a node that stopped answering is dropped,
    and the first call after it recovers gets a fresh connection."""

    async def main():
        pool = Pool(
            valkey_node.host,
            valkey_node.port,
            command_timeout=0.2,
            close_on_timeout=True,
            connect_timeout=0.5,
            connect_attempts=1,
        )
        first = await pool.shared()
        assert await pool.ping() == b"PONG"
        valkey_node.kill(signal.SIGSTOP)
        try:
            with pytest.raises(CommandTimeoutError):
                await pool.role()
            assert first.is_closed
        finally:
            valkey_node.kill(signal.SIGCONT)
        role = await pool.role()
        assert role.is_primary
        assert (await pool.shared()) is not first
        await pool.aclose()

    arun(main())

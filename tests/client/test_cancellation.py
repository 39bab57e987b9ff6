"""The cancellation storm: many tasks share one connection under load while random calls
are cancelled or time out at random moments.  Every call that completes must get *its own*
reply; the connection must end in sync.  Bounded in operations and in time."""

from __future__ import annotations

import asyncio
import random

import pytest

from gungnir.client import CommandTimeoutError, connect

WORKERS = 40
OPS_PER_WORKER = 250
DEADLINE = 45.0


async def _storm(host: str, port: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    conn = await connect(host, port)
    stats = {"ok": 0, "cancelled": 0, "timed_out": 0, "wrong": 0}
    loop = asyncio.get_running_loop()

    async def one(worker: int, n: int) -> None:
        token = f"w{worker}:{n}:{rng.random()}".encode()
        kind = rng.random()
        if kind < 0.5:
            assert await conn.echo(token) == token
        elif kind < 0.7:  # an explicit pipeline: one FIFO entry for many replies
            pipe = conn.pipeline()
            for i in range(rng.randint(1, 30)):
                pipe.echo(token + b"/%d" % i)
            got = await pipe.execute()
            assert got == [token + b"/%d" % i for i in range(len(got))]
        elif kind < 0.85:  # own key: SET then GET must read back our value
            key = f"key:{worker}"
            await conn.set(key, token)
            assert await conn.get(key) == token
        else:  # a tiny command timeout: times out or not, never a wrong reply
            try:
                got = await conn.execute("ECHO", token, timeout=rng.choice([1e-5, 1e-4, 1e-3]))
            except CommandTimeoutError:
                stats["timed_out"] += 1
                return
            assert got == token

    async def worker(w: int) -> None:
        for n in range(OPS_PER_WORKER):
            task = asyncio.ensure_future(one(w, n))
            r = rng.random()
            if r < 0.3:  # cancel after a random number of loop iterations
                for _ in range(rng.randint(0, 3)):
                    await asyncio.sleep(0)
                task.cancel()
            elif r < 0.4:  # cancel after a random sub-millisecond delay
                loop.call_later(rng.random() / 2000, task.cancel)
            try:
                await task
                stats["ok"] += 1
            except asyncio.CancelledError:
                stats["cancelled"] += 1
            except AssertionError:
                stats["wrong"] += 1

    async with asyncio.timeout(DEADLINE):
        await asyncio.gather(*(worker(w) for w in range(WORKERS)))
        # Whatever was abandoned is drained; the connection is in sync and empty.
        assert await conn.echo(b"final") == b"final"
        assert conn.pending == 0
    await conn.aclose()
    return stats


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cancellation_storm(valkey_node, arun, seed):
    stats = arun(_storm(valkey_node.host, valkey_node.port, seed))
    assert stats["wrong"] == 0, stats
    # The storm really happened: many calls completed and many were cut short.
    assert stats["ok"] > WORKERS * OPS_PER_WORKER * 0.3, stats
    assert stats["cancelled"] > WORKERS * OPS_PER_WORKER * 0.1, stats
    assert stats["timed_out"] > 0, stats


def test_cancellation_storm_plain_asyncio(valkey_node, arun_both, seed=7):
    stats = arun_both(_storm(valkey_node.host, valkey_node.port, seed))
    assert stats["wrong"] == 0, stats
    assert stats["cancelled"] > 0 and stats["ok"] > 0, stats

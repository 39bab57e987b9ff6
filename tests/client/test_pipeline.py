"""Explicit pipelines and MULTI/EXEC transactions with WATCH."""

from __future__ import annotations

import asyncio

import pytest

from gungnir.client import ExecAbortError, WatchError, WrongTypeError, connect
from gungnir.resp import ReplyError


def test_pipeline_results_in_order_with_transforms(valkey_node, arun_both):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            pipe = c.pipeline()
            assert pipe.set("a", 1).incr("a").get("a") is pipe  # chains
            pipe.hset("h", {"f": "v"}).hgetall("h").role()
            got = await pipe.execute()
            assert got[:5] == [True, 2, b"2", 1, {b"f": b"v"}]
            assert got[5].is_primary
            assert len(pipe) == 0 and await pipe.execute() == []  # emptied after execute

    arun_both(main())


def test_pipeline_errors_per_position(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            await c.lpush("list", "x")
            pipe = c.pipeline(raise_on_error=False)
            pipe.set("k", "v").get("list").incr("k").get("k")
            got = await pipe.execute()
            assert got[0] is True and got[3] == b"v"
            assert isinstance(got[1], WrongTypeError)
            assert isinstance(got[2], ReplyError) and "not an integer" in str(got[2])
            pipe.get("list").echo("after")
            with pytest.raises(WrongTypeError) as info:
                await pipe.execute(raise_on_error=True)
            assert any("command #0 (GET)" in n for n in info.value.__notes__)
            assert await c.echo("sync") == b"sync"  # every reply was read

    arun(main())


def test_pipeline_of_10k_mixed_with_concurrent_calls(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            pipe = c.pipeline()
            for i in range(10_000):
                pipe.execute_command("ECHO", i)
            singles = [c.echo(f"single{i}") for i in range(100)]
            batch, *rest = await asyncio.gather(pipe.execute(), *singles)
            assert batch == [str(i).encode() for i in range(10_000)]
            assert rest == [f"single{i}".encode() for i in range(100)]

    arun(main())


def test_transaction_applies_atomically(valkey_node, arun_both):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            tx = c.transaction()
            tx.set("a", "1").incr("a").get("a").hgetall("none")
            assert await tx.execute() == [True, 2, b"2", {}]

    arun_both(main())


def test_transaction_runtime_error_in_position(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            await c.lpush("list", "x")
            tx = c.transaction(raise_on_error=False)
            tx.set("k", "v").incr("list").get("k")
            got = await tx.execute()
            assert got[0] is True and got[2] == b"v"
            assert isinstance(got[1], WrongTypeError)

    arun(main())


def test_transaction_queue_error_aborts(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            tx = c.transaction()
            tx.set("k", "v").execute_command("NOSUCHCOMMAND", 1)
            with pytest.raises(ExecAbortError) as info:
                await tx.execute()
            assert isinstance(info.value.__cause__, ReplyError)
            assert "unknown command" in str(info.value.__cause__)
            assert await c.get("k") is None  # nothing applied
            assert await c.echo("sync") == b"sync"

    arun(main())


def test_watch_conflict_raises_and_retry_succeeds(valkey_node, arun_both):
    async def main():
        mine = await connect(valkey_node.host, valkey_node.port)
        rival = await connect(valkey_node.host, valkey_node.port)
        await mine.set("counter", 10)

        async with mine.transaction() as tx:
            await tx.watch("counter")
            value = int(await mine.get("counter"))
            await rival.incr("counter")  # someone else changes it meanwhile
            tx.set("counter", value + 1)
            with pytest.raises(WatchError):
                await tx.execute()
        assert await mine.get("counter") == b"11"  # the rival's write, not ours

        async with mine.transaction() as tx:  # retry without interference
            await tx.watch("counter")
            value = int(await mine.get("counter"))
            tx.set("counter", value + 1)
            assert await tx.execute() == [True]
        assert await mine.get("counter") == b"12"

        # Leaving the block without EXEC drops the WATCH (UNWATCH), so a later
        # transaction is not aborted by a stale watch.
        async with mine.transaction() as tx:
            await tx.watch("counter")
        await rival.incr("counter")
        tx2 = mine.transaction()
        tx2.get("counter")
        assert await tx2.execute() == [b"13"]
        await mine.aclose()
        await rival.aclose()

    arun_both(main())


def test_pipeline_set_options_and_transforms_next_to_errors(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            await c.lpush("list", "x")
            pipe = c.pipeline(raise_on_error=False)
            pipe.set("k", "v").set("k", "w", nx=True).set("k", "w", xx=True, get=True)
            pipe.incr("list").set("k2", "z").role()
            got = await pipe.execute()
            assert got[:3] == [True, False, b"v"]
            assert isinstance(got[3], WrongTypeError)
            assert got[4] is True and got[5].is_primary

    arun(main())

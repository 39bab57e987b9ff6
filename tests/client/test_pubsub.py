"""Pub/sub and RESP3 pushes: messages never mistaken for replies, many channels, patterns,
shard channels, RESP2 on a dedicated connection, tracking invalidations, back-pressure."""

from __future__ import annotations

import asyncio

import pytest

from gungnir.client import ConnectionError, Message, NoPermError, connect

from .stub import until


def test_many_channels_with_commands_interleaved(valkey_node, arun_both):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port)
        pub = await connect(valkey_node.host, valkey_node.port)
        channels = [f"ch{i}".encode() for i in range(300)]
        async with conn.pubsub() as ps:
            await ps.subscribe(*channels[:150])
            await ps.subscribe(*channels[150:])
            assert ps.channels == set(channels)
            # Publish to every channel while the same connection runs ordinary commands.
            counts = await asyncio.gather(*(pub.publish(ch, b"m-" + ch) for ch in channels))
            assert counts == [1] * len(channels)
            echoes = await asyncio.gather(*(conn.echo(f"e{i}") for i in range(50)))
            assert echoes == [f"e{i}".encode() for i in range(50)]
            got = [await ps.get_message(timeout=5) for _ in channels]
            assert got == [Message("message", ch, b"m-" + ch) for ch in channels]
            assert await ps.get_message(timeout=0.05) is None
            await ps.unsubscribe()
            assert ps.channels == set()
            assert await pub.publish(channels[0], b"late") == 0
        await conn.aclose()
        await pub.aclose()

    arun_both(main())


def test_patterns_shard_channels_and_iteration(valkey_node, arun):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port, decode_responses=True)
        pub = await connect(valkey_node.host, valkey_node.port)
        ps = conn.pubsub()
        await ps.psubscribe("news.*")
        await ps.ssubscribe("shard-a")
        assert ps.patterns == {"news.*"} and ps.shard_channels == {"shard-a"}
        await pub.publish("news.sport", "goal")
        await pub.spublish("shard-a", "sharded")
        await pub.publish("other", "ignored")
        received = []
        async for msg in ps:
            received.append(msg)
            if len(received) == 2:
                break
        assert received == [
            Message("pmessage", "news.sport", "goal", pattern="news.*"),
            Message("smessage", "shard-a", "sharded"),
        ]
        await ps.aclose()
        assert not ps.subscribed and conn._pubsub is None
        assert await conn.get("x") is None  # plain use afterwards
        await conn.aclose()
        await pub.aclose()

    arun(main())


def test_resp2_dedicated_connection(valkey_node, arun):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port, protocol=2)
        pub = await connect(valkey_node.host, valkey_node.port)
        ps = conn.pubsub()
        await ps.subscribe("a", "b")
        assert ps.channels == {b"a", b"b"}
        assert await conn.ping() == [b"pong", b""]  # RESP2's PING reply while subscribed
        await pub.publish("b", "1")
        await pub.publish("a", "2")
        assert await ps.get_message(timeout=5) == Message("message", b"b", b"1")
        assert await ps.get_message(timeout=5) == Message("message", b"a", b"2")
        await ps.aclose()
        assert await conn.echo("normal again") == b"normal again"
        await conn.aclose()
        await pub.aclose()

    arun(main())


def test_subscribe_refused_by_acl_keeps_sync(valkey_node, arun):
    valkey_node.command(
        "ACL", "SETUSER", "limited", "on", ">pw", "~*", "+@all", "resetchannels", "&ok*"
    )

    async def main():
        conn = await connect(valkey_node.host, valkey_node.port, username="limited", password="pw")
        ps = conn.pubsub()
        with pytest.raises(NoPermError):
            await ps.subscribe("forbidden")
        assert await conn.echo("sync") == b"sync"
        await ps.subscribe("ok1")
        assert ps.channels == {b"ok1"}
        await conn.aclose()

    arun(main())


def test_tracking_invalidations_reach_the_handler(valkey_node, arun):
    async def main():
        seen: list[object] = []
        conn = await connect(valkey_node.host, valkey_node.port, invalidation_handler=seen.append)
        other = await connect(valkey_node.host, valkey_node.port)
        await other.set("cached", "1")
        assert await conn.client_tracking(True) is True
        assert await conn.get("cached") == b"1"  # now tracked
        await other.set("cached", "2")
        await until(lambda: bool(seen), what="an invalidation push")
        assert seen == [[b"cached"]]
        assert await conn.get("cached") == b"2"  # the push did not take a reply's place
        await conn.aclose()
        await other.aclose()

    arun(main())


def test_other_pushes_go_to_the_push_handler(valkey_node, arun):
    async def main():
        pushes: list[list[object]] = []
        conn = await connect(valkey_node.host, valkey_node.port, push_handler=pushes.append)
        other = await connect(valkey_node.host, valkey_node.port)
        # Without a PubSub attached, subscription traffic is an ordinary push.
        await conn._send_subscribe("subscribe", ["raw"], 1)
        await other.publish("raw", "x")
        await until(lambda: len(pushes) >= 2, what="the message push")
        assert pushes[0][0] == b"subscribe" and pushes[1] == [b"message", b"raw", b"x"]
        await conn.aclose()
        await other.aclose()

    arun(main())


def test_slow_consumer_backpressure_loses_nothing(valkey_node, arun):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port)
        pub = await connect(valkey_node.host, valkey_node.port)
        ps = conn.pubsub()
        ps.max_queued = 50
        await ps.subscribe("flood")
        pipe = pub.pipeline()
        for i in range(2000):
            pipe.publish("flood", i)
        await pipe.execute()
        await until(lambda: ps._paused, what="reading to pause")
        got = [(await ps.get_message(timeout=5)).data for _ in range(2000)]
        assert got == [str(i).encode() for i in range(2000)]
        assert not ps._paused
        await conn.aclose()
        await pub.aclose()

    arun(main())


def test_iteration_ends_with_error_when_connection_lost(valkey_node, arun):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port)
        ps = conn.pubsub()
        await ps.subscribe("c")

        async def consume():
            return [m async for m in ps]

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0)
        valkey_node.kill()
        with pytest.raises(ConnectionError) as info:
            await task
        assert info.value.address == (valkey_node.host, valkey_node.port)

    arun(main())

"""Pub/sub and RESP3 pushes: messages never mistaken for replies, many channels, patterns,
shard channels, RESP2 on a dedicated connection, tracking invalidations, back-pressure that
never starves a reply, and the queue's hard limit."""

from __future__ import annotations

import asyncio

import pytest

from gungnir.client import (
    ConnectionError,
    Message,
    NoPermError,
    PubSub,
    PubSubOverflowError,
    connect,
)

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


#: Bound on every wait in the back-pressure tests: a regression shows as a failure here,
#: not as a hang of the suite.
WAIT = 5.0


async def _flood(pub, channel: str, n: int, start: int = 0) -> None:
    pipe = pub.pipeline()
    for i in range(start, start + n):
        pipe.publish(channel, i)
    assert await pipe.execute() == [1] * n


async def _paused(ps: PubSub) -> None:
    await until(lambda: ps._paused and ps._proto.reading_paused, what="reading to pause")


def test_command_while_paused_gets_its_reply(valkey_node, arun_both):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port)
        pub = await connect(valkey_node.host, valkey_node.port)
        await pub.set("k", "v")
        ps = PubSub(conn, max_queued=20)
        await ps.subscribe("ch")
        await _flood(pub, "ch", 100)
        await _paused(ps)
        first = await ps.get_message(timeout=WAIT)
        assert first == Message("message", b"ch", b"0")
        assert ps._paused  # still behind: 10 or fewer queued would resume
        # The consumer task itself issues a command on the paused connection.
        async with asyncio.timeout(WAIT):
            assert await conn.get("k") == b"v"
            assert await conn.execute_many([["ECHO", "a"], ["ECHO", "b"]]) == [b"a", b"b"]
        # The messages read to reach those replies were queued, not lost ...
        assert len(ps._queue) == 99 and ps.dropped == 0
        # ... and with nothing outstanding the hold is back.
        await until(lambda: ps._proto.reading_paused, what="the hold to return")
        rest = [await ps.get_message(timeout=WAIT) for _ in range(99)]
        assert [m.data for m in rest] == [str(i).encode() for i in range(1, 100)]
        assert not ps._paused and not ps._proto.reading_paused
        await ps.aclose()
        await conn.aclose()
        await pub.aclose()

    arun_both(main())


def test_unsubscribe_while_paused(valkey_node, arun):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port)
        pub = await connect(valkey_node.host, valkey_node.port)
        ps = PubSub(conn, max_queued=20)
        await ps.subscribe("a", "b")
        await _flood(pub, "a", 100)
        await _paused(ps)
        async with asyncio.timeout(WAIT):
            await ps.unsubscribe("b")
        assert ps.channels == {b"a"}
        assert len(ps._queue) == 100 and ps.dropped == 0  # everything before the confirmation
        assert await pub.publish("b", "gone") == 0
        got = [await ps.get_message(timeout=WAIT) for _ in range(100)]
        assert [m.data for m in got] == [str(i).encode() for i in range(100)]
        await ps.aclose()
        await conn.aclose()
        await pub.aclose()

    arun(main())


def test_early_break_from_async_with_while_paused(valkey_node, arun_both):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port)
        pub = await connect(valkey_node.host, valkey_node.port)
        async with asyncio.timeout(WAIT):
            async with conn.pubsub(max_queued=20) as ps:
                await ps.subscribe("a", "b")
                await ps.psubscribe("p.*")
                await _flood(pub, "a", 100)
                await _paused(ps)
                queued = len(ps._queue)
                await _flood(pub, "p.x", 50)  # held unread in the socket
                async for msg in ps:
                    assert msg.data == b"0"
                    break
        # Exit unsubscribed from everything although the consumer was far behind; what
        # arrived during the close was discarded and counted, what was queued stays.
        assert not ps.subscribed and conn._pubsub is None
        assert ps.discarded == 100 - queued + 50
        assert len(ps._queue) == queued - 1 and ps.dropped == 0
        assert await pub.publish("a", "late") == 0
        assert await conn.echo("usable") == b"usable"
        assert not conn._proto.reading_paused
        await conn.aclose()
        await pub.aclose()

    arun_both(main())


def test_queue_hard_limit_drops_and_reports_the_gap(valkey_node, arun):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port)
        pub = await connect(valkey_node.host, valkey_node.port)
        ps = PubSub(conn, max_queued=20, max_overflow=30)
        await ps.subscribe("ch")
        await _flood(pub, "ch", 200)
        await _paused(ps)
        # The reply is behind all 200 messages: reading them passes the hard limit of 50.
        async with asyncio.timeout(WAIT):
            assert await conn.echo("x") == b"x"
        assert ps.dropped == 150
        assert len(ps._queue) == 51  # 50 messages and one gap marker, never more
        got = [await ps.get_message(timeout=WAIT) for _ in range(50)]
        assert [m.data for m in got] == [str(i).encode() for i in range(50)]
        with pytest.raises(PubSubOverflowError) as info:
            await ps.get_message(timeout=WAIT)
        assert info.value.dropped == 150 and info.value.limit == 50
        assert info.value.address == (valkey_node.host, valkey_node.port)
        # The PubSub and the connection go on after the gap.
        await pub.publish("ch", "after")
        assert await ps.get_message(timeout=WAIT) == Message("message", b"ch", b"after")
        assert await conn.ping() == b"PONG"
        await ps.aclose()
        await conn.aclose()
        await pub.aclose()

    arun(main())


def test_queue_stays_bounded_under_steady_commands(valkey_node, arun):
    """A consumer that reads nothing while the same connection keeps running commands (so
    reading never pauses) still cannot make the queue grow past its hard limit, and every
    message is either delivered in order or accounted for as dropped."""

    async def main():
        conn = await connect(valkey_node.host, valkey_node.port)
        pub = await connect(valkey_node.host, valkey_node.port)
        ps = PubSub(conn, max_queued=20, max_overflow=80)
        limit = 100
        await ps.subscribe("ch")
        total = 3000
        publisher = asyncio.ensure_future(
            asyncio.gather(*(_flood(pub, "ch", 100, start) for start in range(0, total, 100)))
        )
        longest = 0
        async with asyncio.timeout(4 * WAIT):
            for _ in range(20_000):  # bounded; ends as soon as the publisher is done
                assert await conn.ping() == b"PONG"
                longest = max(longest, len(ps._queue))
                if publisher.done():
                    break
            await publisher
            assert await conn.ping() == b"PONG"  # everything published is read by now
        longest = max(longest, len(ps._queue))
        assert longest <= limit + 1
        assert ps.dropped > 0  # the consumer really was outrun
        received: list[int] = []
        gaps = 0
        while ps._queue:
            try:
                received.append(int((await ps.get_message(timeout=WAIT)).data))
            except PubSubOverflowError as exc:
                gaps += exc.dropped
        assert gaps == ps.dropped
        assert len(received) + ps.dropped == total
        assert received == sorted(received) and len(set(received)) == len(received)
        await ps.aclose()
        await conn.aclose()
        await pub.aclose()

    arun(main())

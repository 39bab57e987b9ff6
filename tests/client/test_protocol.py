"""RespProtocol on its own: bytes in through data_received, fed whole, byte by byte and with
trailing data; the FIFO discipline that keeps callers in sync.  The transport is a list that
records writes (the protocol never needs more than write/close/abort from it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gungnir.client import ConnectionClosedError, ConnectionLostError, ProtocolError
from gungnir.client.protocol import Batch, RespProtocol, SubscribeSlot
from gungnir.resp import Reader, ReplyError, WrongTypeError


class RecordingTransport:
    def __init__(self, proto: RespProtocol) -> None:
        self.proto = proto
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.proto.connection_lost(None)

    abort = close

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


def make(loop: asyncio.AbstractEventLoop) -> tuple[RespProtocol, RecordingTransport, list]:
    pushes: list = []
    proto = RespProtocol(loop, ("127.0.0.1", 6379), lambda on_push: Reader(push_handler=on_push))
    proto.push_callback = pushes.append
    transport = RecordingTransport(proto)
    proto.connection_made(transport)  # type: ignore[arg-type]
    return proto, transport, pushes


REPLIES = b"+OK\r\n$5\r\nhello\r\n-WRONGTYPE bad\r\n*2\r\n:1\r\n:2\r\n"
EXPECTED = [b"OK", b"hello", WrongTypeError("WRONGTYPE bad"), [1, 2]]


def feeds(data: bytes, mode: str) -> list[bytes]:
    if mode == "whole":
        return [data]
    if mode == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    return [data[:7], data[7:19], data[19:]]


async def settle(futs: list[asyncio.Future[Any]]) -> list[Any]:
    return await asyncio.gather(*futs, return_exceptions=True)


@pytest.mark.parametrize("mode", ["whole", "bytewise", "chunks"])
def test_replies_match_requests_in_order(mode):
    async def main():
        loop = asyncio.get_running_loop()
        proto, transport, _ = make(loop)
        futs = [loop.create_future() for _ in EXPECTED]
        for i, f in enumerate(futs):
            proto.send(b"CMD%d\r\n" % i, f)
        await asyncio.sleep(0)
        assert transport.writes == [b"CMD0\r\nCMD1\r\nCMD2\r\nCMD3\r\n"]  # one write
        for chunk in feeds(REPLIES, mode):
            proto.data_received(chunk)
        assert await settle(futs) == EXPECTED
        assert proto.pending == 0

    asyncio.run(main())


@pytest.mark.parametrize("mode", ["whole", "bytewise", "chunks"])
def test_cancelled_slots_drop_their_reply(mode):
    async def main():
        loop = asyncio.get_running_loop()
        proto, _, _ = make(loop)
        futs = [loop.create_future() for _ in EXPECTED]
        for f in futs:
            proto.send(b"X\r\n", f)
        futs[0].cancel()
        futs[2].cancel()
        for chunk in feeds(REPLIES, mode):
            proto.data_received(chunk)
        assert futs[1].result() == b"hello" and futs[3].result() == [1, 2]
        assert proto.pending == 0

    asyncio.run(main())


@pytest.mark.parametrize("mode", ["whole", "bytewise", "chunks"])
def test_batch_with_push_in_the_middle(mode):
    async def main():
        loop = asyncio.get_running_loop()
        proto, _, pushes = make(loop)
        batch_fut = loop.create_future()
        after = loop.create_future()
        proto.send(b"B\r\n", Batch(batch_fut, 3))
        proto.send(b"A\r\n", after)
        data = b":1\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n:2\r\n-ERR x\r\n$5\r\nafter\r\n"
        for chunk in feeds(data, mode):
            proto.data_received(chunk)
        assert batch_fut.result() == [1, 2, ReplyError("ERR x")]
        assert after.result() == b"after"
        assert pushes == [[b"invalidate", [b"k"]]]

    asyncio.run(main())


def test_subscribe_slot_completes_on_confirmations_and_takes_errors():
    async def main():
        loop = asyncio.get_running_loop()
        proto, _, pushes = make(loop)
        sub = loop.create_future()
        refused = loop.create_future()
        ping = loop.create_future()
        proto.send(b"SUBSCRIBE a b\r\n", SubscribeSlot(sub, "subscribe", 2))
        proto.send(b"SUBSCRIBE c\r\n", SubscribeSlot(refused, "subscribe", 1))
        proto.send(b"PING\r\n", ping)
        proto.data_received(b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n")
        assert not sub.done()
        proto.data_received(b">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n")
        assert sub.done() and sub.result() is None
        proto.data_received(b"-NOPERM no\r\n+PONG\r\n")
        assert isinstance(refused.exception(), ReplyError)
        assert ping.result() == b"PONG"
        assert len(pushes) == 2  # confirmations are still shown to the push callback

    asyncio.run(main())


def test_reply_without_request_is_a_protocol_failure():
    async def main():
        loop = asyncio.get_running_loop()
        proto, transport, _ = make(loop)
        proto.data_received(b"+SURPRISE\r\n")
        assert transport.closed and proto.is_closed
        with pytest.raises(ConnectionClosedError) as info:
            proto.send(b"X\r\n", loop.create_future())
        assert "SURPRISE" in str(info.value)

    asyncio.run(main())


def test_invalid_resp_fails_every_waiter_with_the_cause():
    async def main():
        loop = asyncio.get_running_loop()
        proto, transport, _ = make(loop)
        futs = [loop.create_future() for _ in range(3)]
        for f in futs:
            proto.send(b"X\r\n", f)
        proto.data_received(b"+fine\r\n?what\r\n")
        assert futs[0].result() == b"fine"
        for f in futs[1:]:
            err = f.exception()
            assert isinstance(err, ConnectionLostError)
            assert isinstance(err.__cause__, ProtocolError)
        assert transport.closed

    asyncio.run(main())


def test_connection_lost_fails_batches_and_subscribe_slots():
    async def main():
        loop = asyncio.get_running_loop()
        proto, _, _ = make(loop)
        b, s, f = loop.create_future(), loop.create_future(), loop.create_future()
        proto.send(b"B\r\n", Batch(b, 2))
        proto.send(b"S\r\n", SubscribeSlot(s, "subscribe", 1))
        proto.send(b"F\r\n", f)
        proto.data_received(b":1\r\n")  # half the batch
        proto.connection_lost(ConnectionResetError("reset by peer"))
        for fut in (b, s, f):
            err = fut.exception()
            assert isinstance(err, ConnectionLostError)
            assert "reset by peer" in str(err) and "3 repl" in str(err)
        await proto.wait_closed()

    asyncio.run(main())


def test_undecodable_reply_goes_to_its_caller_only():
    async def main():
        loop = asyncio.get_running_loop()
        proto = RespProtocol(
            loop, ("h", 1), lambda on_push: Reader(encoding="utf-8", push_handler=on_push)
        )
        proto.connection_made(RecordingTransport(proto))  # type: ignore[arg-type]
        bad, good, batch = loop.create_future(), loop.create_future(), loop.create_future()
        proto.send(b"A\r\n", bad)
        proto.send(b"B\r\n", good)
        proto.send(b"C\r\n", Batch(batch, 2))
        proto.data_received(b"$2\r\n\xff\xfe\r\n$2\r\nok\r\n$1\r\n\xff\r\n$1\r\nz\r\n")
        assert isinstance(bad.exception(), UnicodeDecodeError)
        assert good.result() == "ok"
        first, second = batch.result()
        assert isinstance(first, UnicodeDecodeError) and second == "z"
        assert not proto.is_closed

    asyncio.run(main())


class PausableTransport(RecordingTransport):
    """Records whether reading is paused, as a real transport would honour it."""

    def __init__(self, proto: RespProtocol) -> None:
        super().__init__(proto)
        self.paused = False
        self.toggles = 0

    def pause_reading(self) -> None:
        self.paused = True
        self.toggles += 1

    def resume_reading(self) -> None:
        self.paused = False
        self.toggles += 1


def test_a_consumers_hold_never_holds_a_reply():
    """Back-pressure pauses reading only while nothing awaits a reply: a request sent while
    held reopens reading, and the hold comes back once the last reply is in."""

    async def main():
        loop = asyncio.get_running_loop()
        proto = RespProtocol(loop, ("h", 1), lambda on_push: Reader(push_handler=on_push))
        pushes: list = []
        proto.push_callback = pushes.append
        transport = PausableTransport(proto)
        proto.connection_made(transport)  # type: ignore[arg-type]
        push = b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n"

        proto.pause_reading()  # nothing outstanding: takes effect at once
        assert transport.paused and proto.reading_paused
        first, second = loop.create_future(), loop.create_future()
        proto.send(b"GET a\r\n", first)
        assert not transport.paused  # the reply is behind the held pushes
        proto.send(b"GET b\r\n", second)
        proto.data_received(push * 3 + b"$1\r\n1\r\n" + push)
        assert first.result() == b"1" and not second.done()
        assert not transport.paused  # GET b is still outstanding
        second.cancel()  # an abandoned slot still needs its reply read, to stay in sync
        proto.data_received(push)
        assert not transport.paused
        proto.data_received(b"$1\r\n2\r\n")
        assert proto.pending == 0 and transport.paused  # the hold is back
        assert len(pushes) == 5

        # A hold asked for while a reply is outstanding waits for that reply.
        proto.resume_reading()
        assert not transport.paused and not proto.reading_paused
        third = loop.create_future()
        proto.send(b"PING\r\n", third)
        proto.pause_reading()
        assert not transport.paused
        proto.data_received(b"+PONG\r\n")
        assert third.result() == b"PONG" and transport.paused
        proto.resume_reading()
        assert not transport.paused

    asyncio.run(main())

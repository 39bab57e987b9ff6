"""The generic RESP server: real sockets, real clients (redis-py), raw bytes for the edges.

Each test runs its own event loop with the server on 127.0.0.1, an ephemeral port. Blocking
clients run in a worker thread (``asyncio.to_thread``) so the server keeps serving.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
import uvloop

from gungnir.resp import NEED_DATA, Push, Reader, ReplyError, error_from_message, pack_command
from gungnir.runtime.resp_server import OK, CommandError, RespServer, glob_match

PING = b"*1\r\n$4\r\nPING\r\n"
err = error_from_message  # errors compare equal by class and text


class Client:
    """A raw RESP connection: write bytes, read parsed replies with our own Reader."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer
        self.parser = Reader()

    @classmethod
    async def open(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, *commands: tuple[Any, ...] | bytes) -> None:
        for c in commands:
            self.w.write(c if isinstance(c, bytes) else pack_command(*c))
        await self.w.drain()

    async def read(self, n: int = 1, wait: float = 5.0) -> list[Any]:
        out: list[Any] = []
        while len(out) < n:
            item = self.parser.gets()
            if item is not NEED_DATA:
                out.append(item)
                continue
            data = await asyncio.wait_for(self.r.read(65536), wait)
            if not data:
                raise ConnectionError(f"closed after {len(out)} replies: {out!r}")
            self.parser.feed(data)
        return out

    async def call(self, *args: Any) -> Any:
        await self.send(args)
        return (await self.read())[0]

    async def closed(self, wait: float = 5.0) -> bool:
        """True when the server closed the connection (after any pending replies)."""
        while True:
            data = await asyncio.wait_for(self.r.read(65536), wait)
            if not data:
                return True
            self.parser.feed(data)

    def close(self) -> None:
        self.w.close()


def serve(
    test: Callable[[RespServer, int], Awaitable[None]], loop: str = "asyncio", **server_kwargs: Any
) -> None:
    """Run ``test(server, port)`` against a fresh server in a fresh loop (asyncio's or
    uvloop's); ``_setup`` is called with the server before it listens."""
    setup = server_kwargs.pop("_setup", None)

    async def main() -> None:
        server = RespServer(**server_kwargs)
        if setup:
            setup(server)
        port = await server.start()
        try:
            await test(server, port)
        finally:
            await server.close()

    if loop == "uvloop":
        uvloop.run(main())
    else:
        asyncio.run(main())


LOOPS = pytest.mark.parametrize("loop", ["asyncio", "uvloop"])


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> bool:
    """Poll ``condition`` on the loop until it holds or ``within`` seconds pass; its final value."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() >= deadline:
            return condition()
        await asyncio.sleep(0.01)
    return True


def add_test_commands(server: RespServer) -> None:
    """FAST answers at once; SLOW awaits (so later pipelined replies must wait for it);
    BOOM raises a bug; NOPE raises a CommandError."""

    async def slow(conn: Any, args: list[bytes]) -> Any:
        await asyncio.sleep(float(args[1]))
        return b"slow:" + args[2]

    server.register("fast", lambda c, a: b"fast:" + a[1], arity=2)
    server.register("slow", slow, arity=3)
    server.register("boom", lambda c, a: 1 / 0, arity=1)

    def nope(conn: Any, args: list[bytes]) -> Any:
        raise CommandError("NOPE not today")

    server.register("nope", nope, arity=1)


# -- clients ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_handshake_and_basics(protocol: int) -> None:
    async def test(server: RespServer, port: int) -> None:
        def client() -> None:
            r = redis.Redis(port=port, protocol=protocol, client_name="app-1", socket_timeout=5)
            assert r.ping() is True
            assert r.echo("hé") == "hé".encode()
            assert r.client_getname() in ("app-1", b"app-1")
            assert isinstance(r.client_id(), int)
            with pytest.raises(redis.ResponseError, match="unknown command 'GET'"):
                r.get("k")
            assert r.ping() is True  # still usable after the error
            r.close()

        await asyncio.to_thread(client)
        # The server learns of the client's close asynchronously; wait for it, bounded.
        assert await eventually(lambda: all(c.closed for c in server.clients))

    serve(test)


def test_hello_reply_and_protocol_switch() -> None:
    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        info = await c.call("HELLO", "3")
        assert list(info) == [
            b"server",
            b"version",
            b"proto",
            b"id",
            b"mode",
            b"modules",
            b"gungnir_version",
        ]
        assert info[b"proto"] == 3 and info[b"server"] == b"gungnir" and info[b"modules"] == []
        # In RESP3 a map comes back as a map, null as RESP3 null.
        await c.send(("HELLO", "2"))
        flat = (await c.read())[0]
        assert isinstance(flat, list) and flat[0] == b"server"
        assert await c.call("HELLO", "4") == err("NOPROTO unsupported protocol version")
        assert await c.call("HELLO", "x") == err(
            "ERR Protocol version is not an integer or out of range"
        )
        assert await c.call("HELLO", "3", "FOO") == err("ERR Syntax error in HELLO option 'FOO'")
        info = await c.call("HELLO", "3", "SETNAME", "named")
        assert info[b"proto"] == 3
        assert await c.call("CLIENT", "GETNAME") == b"named"
        assert await c.call("CLIENT", "SETNAME", "has space") == err(
            "ERR Client names cannot contain spaces, newlines or special characters."
        )
        assert await c.call("CLIENT", "SETINFO", "LIB-NAME", "x") == b"OK"
        assert await c.call("CLIENT", "SETINFO", "COLOR", "x") == err(
            "ERR Unrecognized option 'COLOR'"
        )
        c.close()

    serve(test)


def test_auth_rules() -> None:
    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        assert await c.call("PING") == err("NOAUTH Authentication required.")
        assert (await c.call("HELLO", "3")).code == "NOAUTH"
        assert await c.call("AUTH", "wrong") == err(
            "WRONGPASS invalid username-password pair or user is disabled."
        )
        assert await c.call("AUTH", "bob", "s3cret") == err(
            "WRONGPASS invalid username-password pair or user is disabled."
        )
        assert await c.call("AUTH", "s3cret") == b"OK"
        assert await c.call("PING") == b"PONG"
        assert await c.call("RESET") == b"RESET"
        assert (await c.call("PING")).code == "NOAUTH"  # RESET logs out
        info = await c.call("HELLO", "3", "AUTH", "default", "s3cret")
        assert info[b"proto"] == 3
        c.close()

        def client() -> None:
            r = redis.Redis(port=port, password="s3cret", protocol=3, socket_timeout=5)
            assert r.ping() is True
            with pytest.raises(redis.AuthenticationError):
                redis.Redis(port=port, password="nope", socket_timeout=5).ping()

        await asyncio.to_thread(client)

    serve(test, password="s3cret")


def test_auth_without_a_password_configured() -> None:
    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        assert (await c.call("AUTH", "x")).message.startswith(
            "ERR AUTH <password> called without any password configured"
        )
        assert await c.call("AUTH", "default", "anything") == b"OK"
        c.close()

    serve(test)


# -- ordering, pipelining, feeding modes ---------------------------------------------------


@LOOPS
def test_pipelined_replies_stay_in_order_across_async_handlers(loop: str) -> None:
    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        commands = [
            ("FAST", "1"),
            ("SLOW", "0.05", "2"),
            ("FAST", "3"),
            ("BOOM",),
            ("SLOW", "0", "4"),
            ("NOPE",),
            ("FAST", "5"),
        ]
        await c.send(b"".join(pack_command(*cmd) for cmd in commands))
        got = await c.read(len(commands))
        assert got == [
            b"fast:1",
            b"slow:2",
            b"fast:3",
            err("ERR internal error while running the command"),
            b"slow:4",
            err("NOPE not today"),
            b"fast:5",
        ]
        c.close()

    serve(test, _setup=add_test_commands, loop=loop)


@pytest.mark.parametrize("mode", ["whole", "bytewise", "trailing"])
def test_feeding_modes(mode: str) -> None:
    payload = pack_command("ECHO", "x" * 300) + pack_command("PING") + pack_command("ECHO", "")

    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        if mode == "whole":
            await c.send(payload)
        elif mode == "bytewise":
            for i in range(len(payload)):
                await c.send(payload[i : i + 1])
        else:  # a complete request followed by the start of the next one, then the rest
            cut = len(payload) - 5
            await c.send(payload[:cut])
            assert await c.read(2) == [b"x" * 300, b"PONG"]
            await c.send(payload[cut:])
            assert await c.read(1) == [b""]
            c.close()
            return
        assert await c.read(3) == [b"x" * 300, b"PONG", b""]
        c.close()

    serve(test)


@LOOPS
def test_many_pipelined_requests_are_all_answered_in_order(loop: str) -> None:
    count = 20_000  # beyond max_queued, so reading pauses and resumes

    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        await c.send(b"".join(pack_command("ECHO", str(i)) for i in range(count)))
        got = await c.read(count, wait=30)
        assert got == [str(i).encode() for i in range(count)]
        c.close()

    serve(test, max_queued=64, loop=loop)


def test_inline_commands() -> None:
    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        await c.send(b"PING\r\nECHO hello\r\n\r\n")
        assert await c.read(2) == [b"PONG", b"hello"]
        await c.send(b"ECH", b"O split\n")  # a line arriving in pieces, bare LF
        assert await c.read(1) == [b"split"]
        await c.send(PING)  # RESP again on the same connection
        assert await c.read(1) == [b"PONG"]
        c.close()

    serve(test)


# -- errors and bad input -----------------------------------------------------------------


def test_command_errors_keep_the_connection() -> None:
    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        assert await c.call("FOO", "a", "b") == err(
            "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
        )
        long = await c.call("FOO", "x" * 500, "y")
        assert len(long.message) < 250  # Valkey shows at most 128 characters of arguments
        assert await c.call("ECHO") == err("ERR wrong number of arguments for 'echo' command")
        assert await c.call("CLIENT") == err("ERR wrong number of arguments for 'client' command")
        assert await c.call("CLIENT", "FLY") == err(
            "ERR unknown subcommand 'FLY'. Try CLIENT HELP."
        )
        assert await c.call("CLIENT", "SETNAME") == err(
            "ERR wrong number of arguments for 'client|setname' command"
        )
        assert await c.call("FOO", "line\r\nbreak") == err(
            "ERR unknown command 'FOO', with args beginning with: 'line  break' "
        )
        assert await c.call("PING") == b"PONG"
        c.close()

    serve(test)


@pytest.mark.parametrize(
    "garbage",
    [
        b"*1\r\n:1\r\n",  # an integer inside a request
        b"*2\r\n$4\r\nECHO\r\n*1\r\n$1\r\na\r\n",  # nested array
        b"*1\r\n$-5\r\n",  # negative length
        b"*1\r\n$3\r\nfoo\r\n*1\r\n\x00",  # good request, then a NUL where a bulk should start
        b"*x\r\n",
        b"*1\r\n+foo\r\n",  # a simple string where a bulk must be
        b"*2147483648\r\n",  # answered at once, not waited on
        b"*1\r\n$3\r\nfoobar\r\n",  # bulk longer than announced
    ],
)
@LOOPS
def test_garbage_gets_an_error_then_close_server_survives(garbage: bytes, loop: str) -> None:
    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        await c.send(PING + garbage + PING)
        # Replies up to the bad bytes, then one protocol error, then the close: nothing
        # after the bad bytes is run.
        assert await c.closed()
        replies = []
        while (item := c.parser.gets()) is not NEED_DATA:
            replies.append(item)
        assert replies[0] == b"PONG"
        assert isinstance(replies[-1], ReplyError)
        assert replies[-1].message.startswith("ERR Protocol error")
        assert replies.count(b"PONG") == 1
        fresh = await Client.open(port)
        assert await fresh.call("PING") == b"PONG"
        fresh.close()

    serve(test, loop=loop)


def test_random_bytes_never_break_the_server() -> None:
    rng = random.Random(7)
    alphabet = b"*$:+-\r\n0123456789abcPING"

    async def test(server: RespServer, port: int) -> None:
        for _ in range(150):
            blob = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
            c = await Client.open(port)
            await c.send(blob + b"\r\n")
            c.w.write_eof()
            try:
                await c.closed(wait=5)  # the server answers what it can and closes
            except (ConnectionError, OSError):
                pass
            while True:
                try:
                    item = c.parser.gets()
                except Exception:  # our reader may reject a cut-off reply
                    break
                if item is NEED_DATA:
                    break
            c.close()
        probe = await Client.open(port)
        assert await probe.call("PING") == b"PONG"
        probe.close()

    serve(test)


def test_request_size_limit() -> None:
    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        await c.send(b"*2\r\n$4\r\nECHO\r\n$5000\r\n" + b"a" * 100)
        (first,) = await c.read(1)
        assert first.message.startswith("ERR Protocol error")
        assert await c.closed()
        # Many small parts of one request count too.
        c = await Client.open(port)
        parts = b"".join(b"$10\r\n" + b"b" * 10 + b"\r\n" for _ in range(200))
        await c.send(b"*100000\r\n" + parts)
        (second,) = await c.read(1)
        assert second == err("ERR Protocol error: request too large")
        assert await c.closed()
        ok = await Client.open(port)
        assert await ok.call("ECHO", "a" * 900) == b"a" * 900
        ok.close()

    serve(test, max_request_bytes=1024)


@LOOPS
def test_quit_answers_then_closes(loop: str) -> None:
    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        await c.send(PING + pack_command("QUIT") + PING)
        assert await c.read(2) == [b"PONG", b"OK"]
        assert await c.closed()
        assert c.parser.gets() is NEED_DATA  # the PING after QUIT was not answered

    serve(test, loop=loop)


def test_max_clients() -> None:
    async def test(server: RespServer, port: int) -> None:
        a, b = await Client.open(port), await Client.open(port)
        assert await a.call("PING") == b"PONG" and await b.call("PING") == b"PONG"
        c = await Client.open(port)
        (refused,) = await c.read(1)
        assert refused == err("ERR max number of clients reached")
        assert await c.closed()
        a.close()
        b.close()

    serve(test, max_clients=2)


# -- pub/sub ------------------------------------------------------------------------------


def test_resp2_pubsub_mode() -> None:
    async def test(server: RespServer, port: int) -> None:
        sub = await Client.open(port)
        await sub.send(("SUBSCRIBE", "a", "b"), ("PSUBSCRIBE", "+*"))
        assert await sub.read(3) == [
            [b"subscribe", b"a", 1],
            [b"subscribe", b"b", 2],
            [b"psubscribe", b"+*", 3],
        ]
        assert await sub.call("PING") == [b"pong", b""]
        assert await sub.call("ECHO", "x") == err(
            "ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT "
            "/ RESET are allowed in this context"
        )
        assert server.publish("a", "hello") == 1
        assert server.publish(b"+sdown", b"master x") == 1
        assert server.publish("zzz", "nobody") == 0
        assert await sub.read(2) == [
            [b"message", b"a", b"hello"],
            [b"pmessage", b"+*", b"+sdown", b"master x"],
        ]
        await sub.send(("UNSUBSCRIBE",), ("PUNSUBSCRIBE",), ("UNSUBSCRIBE",))
        assert await sub.read(4) == [
            [b"unsubscribe", b"a", 2],
            [b"unsubscribe", b"b", 1],
            [b"punsubscribe", b"+*", 0],
            [b"unsubscribe", None, 0],
        ]
        assert await sub.call("ECHO", "back") == b"back"
        assert server.publish("a", "gone") == 0
        sub.close()

    serve(test)


@LOOPS
def test_resp3_pushes_interleave_with_replies(loop: str) -> None:
    async def test(server: RespServer, port: int) -> None:
        sub = await Client.open(port)
        await sub.call("HELLO", "3")
        await sub.send(("SUBSCRIBE", "ch"))
        (confirm,) = await sub.read(1)
        assert isinstance(confirm, Push) and confirm == [b"subscribe", b"ch", 1]
        server.publish("ch", "m1")
        await sub.send(("ECHO", "still works"))
        got = await sub.read(2)
        assert isinstance(got[0], Push) and got[0] == [b"message", b"ch", b"m1"]
        assert got[1] == b"still works"
        sub.close()

    serve(test, loop=loop)


@pytest.mark.slow
def test_slow_subscriber_is_dropped_not_buffered_forever() -> None:
    async def test(server: RespServer, port: int) -> None:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", port))
        raw.sendall(pack_command("SUBSCRIBE", "big"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not any(c.channels for c in server.clients):
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        message = b"m" * 256 * 1024
        sent = 0
        while server.publish("big", message) == 1:
            sent += 1
            assert sent < 400, "the subscriber was never dropped"
            await asyncio.sleep(0)  # let the transport try to write
        assert not server.channels_matching()  # its subscription is gone
        raw.close()
        c = await Client.open(port)
        assert await c.call("PING") == b"PONG"
        c.close()

    serve(test, pubsub_buffer_limit=1024 * 1024)


# -- registration, glob -------------------------------------------------------------------


def test_registration_api() -> None:
    def setup(server: RespServer) -> None:
        @server.command("hi", arity=-1)
        def hi(conn: Any, args: list[bytes]) -> Any:
            return OK

        server.register_subcommand("peer", "vote", lambda c, a: [a[2], c.protocol], arity=3)

    async def test(server: RespServer, port: int) -> None:
        c = await Client.open(port)
        assert await c.call("hi") == b"OK"
        assert await c.call("PEER", "VOTE", "7") == [b"7", 2]
        assert await c.call("PEER", "x") == err("ERR unknown subcommand 'x'. Try PEER HELP.")
        c.close()

    serve(test, _setup=setup)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (b"*", b"", False),  # as Valkey's stringmatchlen: an empty text matches only ""
        (b"", b"", True),
        (b"*", b"anything", True),
        (b"+*", b"+switch-master", True),
        (b"+*", b"-sdown", False),
        (b"h?llo", b"hello", True),
        (b"h?llo", b"hllo", False),
        (b"h[ae]llo", b"hallo", True),
        (b"h[ae]llo", b"hillo", False),
        (b"h[^e]llo", b"hallo", True),
        (b"h[^e]llo", b"hello", False),
        (b"h[a-c]llo", b"hbllo", True),
        (b"h[a-c]llo", b"hdllo", False),
        (b"h\\*llo", b"h*llo", True),
        (b"h\\*llo", b"hallo", False),
        (b"a*b*c", b"aXXbYYc", True),
        (b"a*b*c", b"aXXbYY", False),
        (b"*-down", b"+s-down", True),
    ],
)
def test_glob_match(pattern: bytes, text: bytes, expected: bool) -> None:
    assert glob_match(pattern, text) is expected


def test_glob_match_agrees_with_valkey(valkey_node: Any) -> None:
    """Differential: random patterns against real Valkey's KEYS over the same keys."""
    rng = random.Random(11)
    keys = sorted(
        {bytes(rng.choice(b"ab-]^\\[") for _ in range(rng.randint(0, 4))) for _ in range(60)}
    )
    keys = [k for k in keys if k]  # Valkey's KEYS never lists an empty key name
    for key in keys:
        assert valkey_node.command("SET", key, "1") == b"OK"
    for _ in range(300):
        pattern = bytes(rng.choice(b"ab-]^\\[*?") for _ in range(rng.randint(1, 6)))
        expected = sorted(valkey_node.command("KEYS", pattern))
        assert sorted(k for k in keys if glob_match(pattern, k)) == expected, pattern

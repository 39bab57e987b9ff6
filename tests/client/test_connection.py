"""Connection: handshake, execute, automatic pipelining, errors, timeouts, loss."""

from __future__ import annotations

import asyncio
import socket

import pytest

from gungnir.client import (
    CommandTimeoutError,
    ConnectError,
    ConnectionClosedError,
    ConnectionLostError,
    ConnectTimeoutError,
    NoAuthError,
    NoPermError,
    WrongPassError,
    WrongTypeError,
    connect,
)
from gungnir.resp import ProtocolError

from .stub import StubServer, resp2_only, until


def test_hello3_handshake_sets_name_and_db(valkey_node, arun_both):
    async def main():
        async with await connect(
            valkey_node.host, valkey_node.port, client_name="gungnir-test", db=3
        ) as conn:
            assert conn.protocol_version == 3
            assert conn.server["proto"] == 3
            assert conn.server["server"] == "valkey"
            assert await conn.client_getname() == b"gungnir-test"
            await conn.set("where", "db3")
        async with await connect(valkey_node.host, valkey_node.port, db=3) as other:
            assert await other.get("where") == b"db3"
        async with await connect(valkey_node.host, valkey_node.port) as db0:
            assert await db0.get("where") is None

    arun_both(main())


def test_resp2_when_asked(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port, protocol=2) as conn:
            assert conn.protocol_version == 2
            info = await conn.execute("CLIENT", "INFO")
            assert b"resp=2" in info
            await conn.hset("h", {"a": "1"})
            assert await conn.hgetall("h") == {b"a": b"1"}

    arun(main())


def test_fallback_to_resp2_on_noproto(arun):
    async def main():
        async with StubServer(resp2_only) as stub:
            conn = await connect("127.0.0.1", stub.port, password="pw", client_name="n", db=2)
            assert conn.protocol_version == 2
            assert await conn.echo(b"hi") == b"hi"
            sent = [c[0].upper() for c in stub.commands]
            assert sent[0] == b"HELLO"
            assert [b"AUTH", b"pw"] in stub.commands
            assert [b"CLIENT", b"SETNAME", b"n"] in stub.commands
            assert [b"SELECT", b"2"] in stub.commands
            await conn.aclose()

    arun(main())


def test_auth_acl_user_and_wrong_password(valkey_node, arun):
    node = valkey_node
    node.command("CONFIG", "SET", "requirepass", "s3cret")

    async def main():
        admin = await connect(node.host, node.port, password="s3cret")
        await admin.execute(
            "ACL", "SETUSER", "reader", "on", ">rpw", "~*", "-@all", "+get", "+hello", "+auth"
        )
        await admin.set("k", "v")
        with pytest.raises(WrongPassError) as info:
            await connect(node.host, node.port, password="wrong")
        assert "WRONGPASS" in str(info.value)
        with pytest.raises(WrongPassError):
            await connect(node.host, node.port, username="reader", password="nope")
        with pytest.raises(NoAuthError):  # refused at the handshake, not at first use
            await connect(node.host, node.port)
        anon = await connect(node.host, node.port, protocol=2)
        with pytest.raises(NoAuthError):
            await anon.get("k")
        await anon.aclose()
        for proto in (3, 2):
            user = await connect(
                node.host, node.port, username="reader", password="rpw", protocol=proto
            )
            assert user.protocol_version == proto
            assert await user.get("k") == b"v"
            with pytest.raises(NoPermError):
                await user.set("k", "x")
            assert await user.get("k") == b"v"  # still in sync after the refusal
            await user.aclose()
        await admin.aclose()

    arun(main())


def test_reply_errors_raised_and_connection_stays_usable(valkey_node, arun_both):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as conn:
            await conn.lpush("list", "a")
            with pytest.raises(WrongTypeError) as info:
                await conn.get("list")
            assert info.value.code == "WRONGTYPE"
            assert await conn.lrange("list", 0, -1) == [b"a"]

    arun_both(main())


def test_concurrent_commands_share_one_write(valkey_node, arun_both):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as conn:
            await conn.ping()
            writes = conn._proto.writes
            values = [f"v{i}".encode() for i in range(200)]
            got = await asyncio.gather(*(conn.echo(v) for v in values))
            assert got == values
            assert conn._proto.writes == writes + 1  # 200 commands, one syscall

    arun_both(main())


def test_decode_responses(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port, decode_responses=True) as conn:
            await conn.set("ключ", "значение")
            assert await conn.get("ключ") == "значение"
            await conn.execute("SET", "bin", b"\xff\xfe")
            with pytest.raises(UnicodeDecodeError):
                await conn.get("bin")
            assert await conn.get("ключ") == "значение"  # the bad reply was consumed
            # Parsed helpers give the same shapes whether or not replies are decoded.
            assert (await conn.role()).is_primary
            assert (await conn.info("server"))["tcp_port"] == valkey_node.port
            assert await conn.config_get("hz") == {"hz": "10"}
            assert await conn.hset("h", {"k": "v"}) == 1
            assert await conn.hgetall("h") == {"k": "v"}

    arun(main())


def test_connect_refused_names_the_address(arun_both):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now

    async def main():
        with pytest.raises(ConnectError) as info:
            await connect("127.0.0.1", port, connect_timeout=5)
        assert info.value.address == ("127.0.0.1", port)
        assert f"127.0.0.1:{port}" in str(info.value)
        assert isinstance(info.value, ConnectionError)  # the builtin, too

    arun_both(main())


def test_connect_timeout_when_server_never_answers(arun):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel completes the TCP handshake; nobody ever replies
    port = listener.getsockname()[1]

    async def main():
        with pytest.raises(ConnectTimeoutError) as info:
            await connect("127.0.0.1", port, connect_timeout=0.3)
        assert info.value.address == ("127.0.0.1", port)
        assert isinstance(info.value, TimeoutError)

    try:
        arun(main())
    finally:
        listener.close()


def test_command_timeout_keeps_connection_in_sync(valkey_node, arun_both):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as conn:
            await conn.set("k", "value-of-k")
            # BLPOP blocks server-side for 1s; we give up after 0.1s.
            with pytest.raises(CommandTimeoutError) as info:
                await conn.execute("BLPOP", "empty", 1, timeout=0.1)
            assert info.value.address == (valkey_node.host, valkey_node.port)
            assert conn.pending == 1  # the abandoned BLPOP's reply is still owed
            # The next caller must get GET's reply, not BLPOP's late nil.
            assert await conn.get("k") == b"value-of-k"
            assert conn.pending == 0

    arun_both(main())


def test_default_command_timeout(valkey_node, arun):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port, command_timeout=0.1)
        with pytest.raises(CommandTimeoutError):
            await conn.execute("BLPOP", "empty", 1)
        assert await conn.execute("ECHO", "after", timeout=None) == b"after"
        await conn.aclose()

    arun(main())


def test_cancelled_command_reply_is_drained(valkey_node, arun_both):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as conn:
            writes = conn._proto.writes
            task = asyncio.ensure_future(conn.execute("BLPOP", "empty", 1))
            await until(lambda: conn._proto.writes > writes, what="the BLPOP on the wire")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await conn.echo(b"mine") == b"mine"

    arun_both(main())


def test_server_killed_fails_every_waiter(valkey_node, arun_both):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port)
        await conn.ping()
        blocked = [asyncio.ensure_future(conn.execute("BLPOP", "q", 0)) for _ in range(3)]
        behind = [asyncio.ensure_future(conn.echo(f"m{i}")) for i in range(100)]
        await until(lambda: conn._proto.writes >= 2, what="commands on the wire")
        valkey_node.kill()
        results = await asyncio.gather(*blocked, *behind, return_exceptions=True)
        assert all(isinstance(r, ConnectionLostError) for r in results), results[:3]
        assert all(r.address == (valkey_node.host, valkey_node.port) for r in results)
        assert conn.is_closed
        with pytest.raises(ConnectionClosedError):
            await conn.ping()

    arun_both(main())


def test_reply_cut_off_midway_fails_waiters(arun):
    def script(cmd):
        if cmd[0].upper() == b"HELLO":
            return b"%1\r\n+proto\r\n:3\r\n"
        if cmd[0].upper() == b"GET":
            return b"$100\r\nonly-part-of-it"  # ... and then the server goes away
        return None

    async def main():
        async with StubServer(script) as stub:
            conn = await connect("127.0.0.1", stub.port)
            get = asyncio.ensure_future(conn.get("k"))
            await asyncio.sleep(0)
            after = asyncio.ensure_future(conn.execute("QUIT"))
            results = await asyncio.gather(get, after, return_exceptions=True)
            assert all(isinstance(r, ConnectionLostError) for r in results), results
            assert "2 repl" in str(results[0])

    arun(main())


def test_garbage_from_server_is_a_clear_error(arun):
    def script(cmd):
        if cmd[0].upper() == b"HELLO":
            return b"%1\r\n+proto\r\n:3\r\n"
        return b"this is not RESP\r\n"

    async def main():
        async with StubServer(script) as stub:
            conn = await connect("127.0.0.1", stub.port)
            with pytest.raises(ConnectionLostError) as info:
                await conn.ping()
            assert isinstance(info.value.__cause__, ProtocolError)
            assert f"127.0.0.1:{stub.port}" in str(info.value)
            with pytest.raises(ConnectionClosedError):
                await conn.ping()

    arun(main())


def test_close_fails_outstanding_and_refuses_new(valkey_node, arun):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port)
        blocked = asyncio.ensure_future(conn.execute("BLPOP", "q", 0))
        await asyncio.sleep(0)
        conn.close()
        with pytest.raises(ConnectionClosedError):
            await blocked
        with pytest.raises(ConnectionClosedError):
            await conn.get("k")
        await conn.wait_closed()

    arun(main())


def test_large_pipelines_and_big_values(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as conn:
            pipe = conn.pipeline()
            for i in range(10_000):
                pipe.set(f"key:{i}", i)
            assert await pipe.execute() == [True] * 10_000
            pipe = conn.pipeline()
            for i in range(10_000):
                pipe.get(f"key:{i}")
            assert await pipe.execute() == [str(i).encode() for i in range(10_000)]
            blob = bytes(range(256)) * 4096 * 4  # 4 MiB
            await conn.set("blob", blob)
            assert await conn.get("blob") == blob

    arun(main())


@pytest.mark.slow
def test_100mb_value(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as conn:
            blob = b"\x00gungnir\xff12345\r\n" * (100 * 1024 * 1024 // 16)  # 100 MiB
            assert len(blob) == 100 * 1024 * 1024
            assert await conn.set("big", blob)
            got = await conn.get("big")
            assert len(got) == len(blob) and got == blob
            assert await conn.echo("small") == b"small"  # still in sync behind it

    arun(main())


def test_commands_that_would_desynchronise_are_refused(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as conn:
            for args in (
                ("SUBSCRIBE", "ch"),
                (b"psubscribe", b"p*"),
                ("sunsubscribe",),
                ("MONITOR",),
                ("client", "reply", "off"),
                ("HELLO", 2),
                (b"hello", b"3", b"SETNAME", b"x"),
                ("reset",),
            ):
                with pytest.raises(ValueError):
                    await conn.execute(*args)
                with pytest.raises(ValueError):
                    await conn.execute_many([("PING",), args])
                with pytest.raises(ValueError):
                    conn.pipeline().execute_command(*args)
            assert conn.pending == 0  # nothing was sent
            with pytest.raises(ValueError, match="HELLO with a protocol version"):
                await conn.execute("HELLO", 2)
            with pytest.raises(ValueError, match="RESP2"):
                await conn.execute("RESET")
            assert await conn.execute("CLIENT", "ID") > 0  # other CLIENT commands are fine
            hello = await conn.execute("HELLO")  # bare HELLO only reports; still RESP3
            assert hello[b"proto"] == 3 and conn.protocol_version == 3
            assert await conn.execute_many([("ECHO", "a"), ("ECHO", "b")]) == [b"a", b"b"]

    arun(main())


def test_why_raw_reset_is_refused(valkey_node, arun):
    """The premise of the RESET refusal, shown by going around the guard: the server drops
    to RESP2 while the connection still believes it speaks RESP3."""

    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as conn:
            assert await conn._cmd(("RESET",), None) == b"RESET"
            hello = await conn.execute("HELLO")
            assert isinstance(hello, list) and hello[hello.index(b"proto") + 1] == 2
            assert conn.protocol_version == 3  # what pub/sub would have trusted

    arun(main())


def test_close_on_timeout_drops_the_connection(valkey_node, arun):
    async def main():
        conn = await connect(valkey_node.host, valkey_node.port, close_on_timeout=True)
        blocked = asyncio.ensure_future(conn.execute("BLPOP", "empty", 5, timeout=0.1))
        behind = asyncio.ensure_future(conn.echo("behind"))
        with pytest.raises(CommandTimeoutError):
            await blocked
        with pytest.raises(ConnectionLostError) as info:
            await behind
        assert "no reply within 0.1s" in str(info.value)
        assert conn.is_closed
        with pytest.raises(ConnectionClosedError):
            await conn.ping()

    arun(main())


def test_sockets_have_nodelay_and_keepalive(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as conn:
            sock = conn._proto._transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1

    arun(main())

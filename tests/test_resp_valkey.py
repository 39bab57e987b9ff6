"""Both readers against a real valkey-server: every RESP3 type the server can send.

``DEBUG PROTOCOL <type>`` makes Valkey emit each RESP3 type (attributes and push frames
included); client-side caching produces real invalidation pushes; big LRANGE/HGETALL
replies arrive through a real socket in 64 KiB reads.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from resp_support import IMPLS

from gungnir import resp
from gungnir.local import ValkeyProcess, start_node
from gungnir.resp import NEED_DATA, Push, Verbatim


@pytest.fixture(scope="module")
def debug_node() -> Iterator[ValkeyProcess]:
    with start_node(enable_debug_command="yes") as node:
        yield node


class Conn:
    """A minimal blocking RESP3 connection driven by one of our readers."""

    def __init__(self, node: ValkeyProcess, factory: Any) -> None:
        self.pushes: list[Push] = []
        self.reader = factory(push_handler=self.pushes.append)
        self.sock = socket.create_connection((node.host, node.port), timeout=5)
        hello = self.call("HELLO", 3)
        assert hello[b"proto"] == 3

    def call(self, *args: Any) -> Any:
        self.sock.sendall(resp.pack_command(*args))
        return self.read()

    def read(self) -> Any:
        deadline = time.monotonic() + 10
        while (reply := self.reader.gets()) is NEED_DATA:
            assert time.monotonic() < deadline, "no reply"
            data = self.sock.recv(65536)
            assert data, "server closed the connection"
            self.reader.feed(data)
        return reply

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=IMPLS)
def conn(request: pytest.FixtureRequest, debug_node: ValkeyProcess) -> Iterator[Conn]:
    c = Conn(debug_node, request.param)
    yield c
    c.close()


def test_every_resp3_type_from_the_server(conn: Conn) -> None:
    def debug(kind: str) -> Any:
        return conn.call("DEBUG", "PROTOCOL", kind)

    assert debug("string") == b"Hello World"
    assert debug("integer") == 12345
    assert debug("double") == 3.141
    assert debug("bignum") == 1234567999999999999999999999999999999
    assert debug("null") is None
    assert debug("array") == [0, 1, 2]
    assert debug("set") == {0, 1, 2}
    assert debug("map") == {0: False, 1: True, 2: False}
    assert debug("true") is True and debug("false") is False
    verbatim = debug("verbatim")
    assert type(verbatim) is Verbatim and verbatim.format == "txt"
    assert verbatim == b"This is a verbatim\nstring"
    assert debug("attrib") == b"Some real reply following the attribute"
    assert conn.reader.attributes == {b"key-popularity": [b"key:123", 90]}
    # The push frame goes to the handler, never in place of a reply (Valkey sends it
    # right after the reply, so it is seen while reading the next one).
    assert debug("push") == b"Some real reply following the push reply"
    assert conn.call("PING") == b"PONG"
    assert conn.pushes == [Push([b"server-cpu-usage", 42])]
    assert conn.reader.attributes is None


def test_error_replies_are_values(conn: Conn) -> None:
    err = conn.call("LPUSH")
    assert isinstance(err, resp.ReplyError) and err.code == "ERR"
    conn.call("SET", "resp:str", "x")
    wrong = conn.call("LPUSH", "resp:str", "y")
    assert type(wrong) is resp.WrongTypeError
    assert conn.call("PING") == b"PONG"  # the stream stays in step


def test_invalidation_pushes_never_complete_a_request(conn: Conn) -> None:
    assert conn.call("CLIENT", "TRACKING", "on") == b"OK"
    conn.call("SET", "resp:tracked", "1")
    assert conn.call("GET", "resp:tracked") == b"1"
    conn.call("SET", "resp:tracked", "2")  # invalidates our cached key
    assert conn.call("PING") == b"PONG"
    assert Push([b"invalidate", [b"resp:tracked"]]) in conn.pushes


def test_big_replies_through_a_socket(conn: Conn) -> None:
    conn.call("DEL", "resp:list", "resp:hash")
    items = [b"item-%06d" % i for i in range(20_000)]
    for i in range(0, len(items), 1000):
        conn.call("RPUSH", "resp:list", *items[i : i + 1000])
    assert conn.call("LRANGE", "resp:list", 0, -1) == items
    fields = {b"f%05d" % i: b"v" * (i % 50) for i in range(5000)}
    flat = [x for kv in fields.items() for x in kv]
    conn.call("HSET", "resp:hash", *flat)
    assert conn.call("HGETALL", "resp:hash") == fields
    blob = bytes(range(256)) * 20_000
    conn.call("SET", "resp:blob", blob)
    assert conn.call("GET", "resp:blob") == blob

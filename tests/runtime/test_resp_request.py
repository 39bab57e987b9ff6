"""The request parser refuses what Valkey refuses, with Valkey's texts.

Each row of ``VALKEY_ANSWERS`` was sent to ``valkey-server --sentinel`` 9.1.2 and its answer
written down (Valkey answers these at once, before any later byte arrives). Every input is
fed whole, byte by byte, and with trailing data, as the codec's tests do.
"""

from __future__ import annotations

import pytest

from gungnir.runtime.resp_request import MAX_INLINE, RequestError, RequestParser

#: (bytes sent, the error text after "ERR Protocol error: ")
VALKEY_ANSWERS = [
    (b"*1\r\n+foo\r\n", "expected '$', got '+'"),
    (b"*1\r\n:1\r\n", "expected '$', got ':'"),
    (b"*2147483648\r\n", "invalid multibulk length"),
    (b"*3000000000\r\n", "invalid multibulk length"),
    (b"*abc\r\n", "invalid multibulk length"),
    (b"*\r\n", "invalid multibulk length"),
    (b"*+1\r\n", "invalid multibulk length"),
    (b"*01\r\n", "invalid multibulk length"),
    (b"* 1\r\n", "invalid multibulk length"),
    (b"*1\n$4\r\n", "invalid multibulk length"),
    (b"*1\r\n$-1\r\n", "invalid bulk length"),
    (b"*1\r\n$abc\r\n", "invalid bulk length"),
    (b"*1\r\n$\r\n", "invalid bulk length"),
    (b"*1\r\n$01\r\n", "invalid bulk length"),
    (b"*1\r\n$ 4\r\n", "invalid bulk length"),
    (b"*1\r\n$2147483648\r\n", "invalid bulk length"),
    (b"*1\r\n$4\r\nPINGxx", "invalid CRLF in request"),
    (b"*1\r\n$4\r\nPING\n\n", "invalid CRLF in request"),
]


def feed_all(data: bytes, *, bytewise: bool = False) -> list[list[bytes]]:
    parser = RequestParser(max_bulk=1024)
    out: list[list[bytes]] = []
    for chunk in [data[i : i + 1] for i in range(len(data))] if bytewise else [data]:
        parser.feed(chunk)
        while (command := parser.gets()) is not None:
            out.append(command)
    return out


@pytest.mark.parametrize("bytewise", [False, True])
@pytest.mark.parametrize(("data", "message"), VALKEY_ANSWERS)
def test_valkey_refusals(data: bytes, message: str, bytewise: bool) -> None:
    with pytest.raises(RequestError) as caught:
        feed_all(b"*1\r\n$4\r\nPING\r\n" + data, bytewise=bytewise)
    assert caught.value.message == message


def test_the_error_poisons_the_parser() -> None:
    parser = RequestParser(max_bulk=1024)
    parser.feed(b"*1\r\n+foo\r\n")
    with pytest.raises(RequestError):
        parser.gets()
    parser.feed(b"*1\r\n$4\r\nPING\r\n")
    with pytest.raises(RequestError):
        parser.gets()


@pytest.mark.parametrize("bytewise", [False, True])
def test_good_requests_whole_bytewise_and_trailing(bytewise: bool) -> None:
    data = (
        b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
        b"*-10\r\n*0\r\n"  # skipped, as Valkey does
        b"PING  a\r\n\r\n"  # inline, then a blank line
        b"*1\r\n$3\r\na\r\n\r\n"  # CRLF inside a bulk
        b"*1\r\n$4\r\nPI"  # trailing: incomplete
    )
    assert feed_all(data, bytewise=bytewise) == [[b"ECHO", b""], [b"PING", b"a"], [b"a\r\n"]]


def test_partial_bytes_counts_the_open_request() -> None:
    parser = RequestParser(max_bulk=1024)
    parser.feed(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nab")
    assert parser.gets() == [b"PING"]
    assert parser.gets() is None
    assert parser.partial_bytes() == len(b"*2\r\n$3\r\nab")


def test_limits() -> None:
    parser = RequestParser(max_bulk=10)
    parser.feed(b"*1\r\n$11\r\n")
    with pytest.raises(RequestError, match="invalid bulk length"):
        parser.gets()
    parser = RequestParser(max_bulk=10)
    parser.feed(b"x" * (MAX_INLINE + 1))
    with pytest.raises(RequestError, match="too big inline request"):
        parser.gets()
    parser = RequestParser(max_bulk=10)
    parser.feed(b"*" + b"1" * (MAX_INLINE + 1))
    with pytest.raises(RequestError, match="too big mbulk count string"):
        parser.gets()

"""RESP codec benchmarks: Gungnir against every peer, in the same run, 64 KiB feeds.

Each benchmark group is one reply shape; each row is one implementation parsing the whole
payload fed in 64 KiB chunks (what a socket read of that size gives), draining replies
after every feed. The work is checked (reply count and a spot value) so a broken parser
cannot win. Print ratios with ``bench/report.py`` (see its docstring for the command).

Peers: hiredis and libvalkey (C readers), coredis's mypyc-compiled ``coredis.parser``,
redis-py's pure-Python RESP3 parser (driven through a fake socket, as it pulls data
itself), and our own pure twin. Encoders: ``hiredis.pack_command``,
``libvalkey.pack_command`` and redis-py's ``PythonRespSerializer``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from gungnir import _resp_py, resp

try:
    from gungnir import _resp as cy
except ImportError:  # pragma: no cover - benches need the extension
    cy = None

import hiredis
import libvalkey

CHUNK = 65536
_MISSING = object()


# -- payloads ------------------------------------------------------------------------------


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _bignum(i: int) -> bytes:
    """A big number of 20 to 59 digits, either sign (the same ones every run)."""
    digits = 20 + (i * 7) % 40
    value = random.Random(i).randrange(10 ** (digits - 1), 10**digits)
    return b"(%d\r\n" % (-value if i % 2 else value)


def _verbatim(i: int) -> bytes:
    # "txt" only: coredis refuses any other format (Valkey sends txt)
    body = b"txt:line %d of a verbatim reply" % i
    return b"=%d\r\n%s\r\n" % (len(body), body)


def _mixed_record(i: int) -> bytes:
    tags = b"".join(_bulk(b"tag-%d" % ((i + k) % 50)) for k in range(3))
    return (
        b"%9\r\n"
        + _bulk(b"id")
        + b":%d\r\n" % (i * 31)
        + _bulk(b"name")
        + _bulk(b"user-%06d" % i)
        + _bulk(b"score")
        + b",%d.25\r\n" % i
        + _bulk(b"tags")
        + b"~3\r\n"
        + tags
        + _bulk(b"active")
        + (b"#t\r\n" if i % 2 else b"#f\r\n")
        + _bulk(b"meta")
        + b"_\r\n"
        + _bulk(b"pos")
        + b"*2\r\n:%d\r\n" % i
        + _bulk(b"x" * 20)
        + _bulk(b"big")
        + _bignum(i)
        + _bulk(b"note")
        + _verbatim(i)
    )


SHAPES: dict[str, tuple[bytes, int]] = {
    "ok-10k": (b"+OK\r\n" * 10_000, 10_000),
    "int-10k": (b"".join(b":%d\r\n" % (i * 7919) for i in range(10_000)), 10_000),
    "bulk100-10k": (b"".join(_bulk(b"%0100d" % i) for i in range(10_000)), 10_000),
    "array-100k-bulk10": (
        b"*100000\r\n" + b"".join(_bulk(b"%010d" % i) for i in range(100_000)),
        1,
    ),
    "map-10k": (
        b"%10000\r\n"
        + b"".join(_bulk(b"field:%06d" % i) + _bulk(b"value:%06d" % i) for i in range(10_000)),
        1,
    ),
    "bulk-10MB": (_bulk(os.urandom(10 * 1024 * 1024)), 1),
    "mixed-nested": (b"*1000\r\n" + b"".join(_mixed_record(i) for i in range(1000)), 1),
    "bignum-20k": (b"".join(_bignum(i) for i in range(20_000)), 20_000),
    "verbatim-20k": (b"".join(_verbatim(i) for i in range(20_000)), 20_000),
}


def _chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


# -- drivers: one function per implementation, each parses all chunks -------------------


def _drive_reader(make: Callable[[], Any], sentinel: Any) -> Callable[[list[bytes]], list[Any]]:
    def run(chunks: list[bytes]) -> list[Any]:
        reader = make()
        out: list[Any] = []
        append = out.append
        for chunk in chunks:
            reader.feed(chunk)
            while (reply := reader.gets()) is not sentinel:
                append(reply)
        return out

    return run


def _drive_coredis(chunks: list[bytes]) -> list[Any]:
    from coredis.parser import NOT_ENOUGH_DATA, Parser

    parser = Parser()
    out: list[Any] = []
    for chunk in chunks:
        parser.feed(chunk)
        while (reply := parser.parse()) is not NOT_ENOUGH_DATA:
            out.append(reply[1])  # coredis returns (type marker, value)
    return out


class _FakeSocket:
    """Hands out the payload in recv()-sized pieces; redis-py's parser pulls from it."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self._i = 0

    def recv(self, size: int) -> bytes:
        chunk = self._chunks[self._i]
        self._i += 1
        return chunk

    def settimeout(self, timeout: float | None) -> None:
        pass

    def exhausted(self) -> bool:
        return self._i >= len(self._chunks)


class _FakeConnection:
    def __init__(self, sock: _FakeSocket) -> None:
        self._sock = sock
        self.socket_timeout = None
        self.encoder = None


def _drive_redispy(chunks: list[bytes]) -> list[Any]:
    from redis._parsers.resp3 import _RESP3Parser

    sock = _FakeSocket(chunks)
    parser = _RESP3Parser(socket_read_size=CHUNK)
    parser.on_connect(_FakeConnection(sock))
    out: list[Any] = []
    while not (sock.exhausted() and parser._buffer.unread_bytes() == 0):
        out.append(parser.read_response(disable_decoding=True))
    return out


READERS: dict[str, Callable[[list[bytes]], list[Any]]] = {
    "gungnir": _drive_reader(cy.Reader, resp.NEED_DATA) if cy else None,  # type: ignore[dict-item]
    "gungnir-pure": _drive_reader(_resp_py.PyReader, resp.NEED_DATA),
    "hiredis": _drive_reader(lambda: hiredis.Reader(notEnoughData=_MISSING), _MISSING),
    "libvalkey": _drive_reader(lambda: libvalkey.Reader(notEnoughData=_MISSING), _MISSING),
    "coredis": _drive_coredis,
    "redis-py": _drive_redispy,
}
# The pure-Python parsers take minutes on the biggest shapes at full rounds; they are
# still measured on every shape, with fewer rounds (pytest-benchmark adapts).


def _fingerprint(shape: str, result: list[Any]) -> tuple[Any, ...]:
    """A cheap summary of a parse, taken inside the timed round (see test_parse)."""
    reply = result[0]
    if shape == "map-10k":
        return (len(result), len(reply), reply[b"field:000123"])
    if shape == "array-100k-bulk10":
        return (len(result), len(reply), reply[99_999])
    if shape == "bulk-10MB":
        return (len(result), len(reply), bytes(reply[:32]), bytes(reply[-32:]))
    if shape == "mixed-nested":
        last = reply[-1]  # C peers give big numbers as their digits, verbatim as bytes
        return (len(result), len(reply), len(last), int(last[b"big"]), bytes(last[b"note"]))
    if shape == "bignum-20k":
        return (len(result), int(result[0]), int(result[-1]))
    return (len(result), result[-1])


@pytest.mark.parametrize("impl", list(READERS))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_parse(benchmark: Any, shape: str, impl: str) -> None:
    if READERS[impl] is None:
        pytest.skip("gungnir._resp is not built")
    payload, _count = SHAPES[shape]
    chunks = _chunks(payload)
    parse = READERS[impl]
    benchmark.group = f"parse {shape}"
    benchmark.extra_info["impl"] = impl
    # Each round drops its replies before returning, as a client does; otherwise the
    # previous round's 10 MB reply is still alive while the next is built, and every
    # round pays for fresh pages from the kernel instead of parsing.
    got = benchmark(lambda: _fingerprint(shape, parse(chunks)))
    assert got == _fingerprint(shape, READERS["gungnir-pure"](chunks))
    if shape == "bulk-10MB":
        assert got[1] == len(payload) - payload.index(b"\r\n") - 4
    elif shape == "int-10k":
        assert got == (10_000, 9999 * 7919)


# -- encoder -------------------------------------------------------------------------------

COMMANDS: list[tuple[Any, ...]] = [
    ("SET", f"key:{i}", b"v" * 16)
    if i % 3 == 0
    else ("HSET", f"hash:{i % 100}", "field", i)
    if i % 3 == 1
    else ("GET", f"key:{i}")
    for i in range(10_000)
]


def _redispy_packer() -> Callable[..., Any]:
    from redis._parsers.encoders import Encoder
    from redis.connection import PythonRespSerializer

    return PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode).pack


REDISPY_PACK = _redispy_packer()

ENCODERS: dict[str, Callable[[list[tuple[Any, ...]]], Any]] = {
    "gungnir": (lambda cmds, p=cy.pack_command: [p(*c) for c in cmds]) if cy else None,  # type: ignore[dict-item]
    "gungnir-batch": (lambda cmds, p=cy.pack_commands: p(cmds)) if cy else None,  # type: ignore[dict-item]
    "gungnir-pure": lambda cmds, p=resp.py_pack_command: [p(*c) for c in cmds],
    "hiredis": lambda cmds, p=hiredis.pack_command: [p(c) for c in cmds],
    "libvalkey": lambda cmds, p=libvalkey.pack_command: [p(c) for c in cmds],
    "redis-py": lambda cmds, p=REDISPY_PACK: [p(*c) for c in cmds],
}


@pytest.mark.parametrize("impl", list(ENCODERS))
def test_pack_commands(benchmark: Any, impl: str) -> None:
    if ENCODERS[impl] is None:
        pytest.skip("gungnir._resp is not built")
    benchmark.group = "encode 10k commands"
    benchmark.extra_info["impl"] = impl
    result = benchmark(ENCODERS[impl], COMMANDS)
    expected = resp.py_pack_commands(COMMANDS)
    if isinstance(result, bytes):
        assert result == expected
    else:
        assert len(result) == len(COMMANDS)
        flat = b"".join(b"".join(r) if isinstance(r, list) else r for r in result)
        assert flat == expected


# -- scaling: a big bulk fed in 64 KiB pieces costs O(size) -------------------------------

# Sizes stay small enough that glibc keeps serving them from its heap: past its dynamic
# mmap threshold every round maps fresh pages (page faults), a per-byte kernel cost
# unrelated to parsing that made 20 MB look superlinear in some runs.
SCALING = {size: _bulk(b"s" * (size * 1024 * 1024)) for size in (5, 10)}


@pytest.mark.parametrize("size", list(SCALING))
@pytest.mark.parametrize("impl", ["gungnir", "gungnir-pure"])
def test_bulk_scaling(benchmark: Any, impl: str, size: int) -> None:
    """Report with ``--baseline gungnir-5MB,gungnir-pure-5MB``: linear cost is 0.50x.

    Known artefact: under pytest-benchmark the pure twin's 10 MB round takes ~5,100 fresh
    page faults every round (its one 10 MB ``b"".join`` is mmapped anew; ``ru_minflt``
    shows it), so it reads ~0.1x; the same loop outside the harness faults only once and
    scales 2x for 2x. The extension, which grows its bytes object in place, shows 0.5x.
    """
    if READERS[impl] is None:
        pytest.skip("gungnir._resp is not built")
    benchmark.group = f"scaling {impl}"
    benchmark.extra_info["impl"] = f"{impl}-{size}MB"
    parse = READERS[impl]
    chunks = _chunks(SCALING[size])
    assert benchmark(lambda: len(parse(chunks)[0])) == size * 1024 * 1024

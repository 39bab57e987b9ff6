"""Reference-count and memory-leak checks for the extension (and the pure twin).

Each scenario runs many iterations of a workload known to have leaked in other RESP
readers (push frames through a handler, error replies, maps with unhashable keys, decode
errors, protocol errors and resets, partial replies dropped by reset) and checks that
traced memory and the reference counts of long-lived objects stay flat.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from resp_support import IMPLS

from gungnir import resp
from gungnir.resp import NEED_DATA, ProtocolError

WIRE = (
    b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"
    b"-MOVED 3999 127.0.0.1:6381\r\n"
    b"!10\r\nERR a\r\nbcd\r\n"
    b"%2\r\n*2\r\n:1\r\n:2\r\n$1\r\nv\r\n+k\r\n~1\r\n*1\r\n_\r\n"
    b"|1\r\n+ttl\r\n:5\r\n=8\r\ntxt:abcd\r\n"
    b"*?\r\n,1.5\r\n(123456789012345678901234567890\r\n.\r\n"
    b"$?\r\n;3\r\nabc\r\n;0\r\n"
    b"*3\r\n$3\r\nabc\r\n:1\r\n#f\r\n"
)


def _workload(factory: Any) -> Callable[[], None]:
    pushes: list[Any] = []
    handler = pushes.append

    def run() -> None:
        reader = factory(push_handler=handler)
        reader.feed(WIRE)
        while reader.gets() is not NEED_DATA:
            pass
        pushes.clear()
        # decode errors are raised after the reply is consumed
        dec = factory(encoding="utf-8")
        dec.feed(b"*2\r\n$1\r\n\xff\r\n%1\r\n+k\r\n$1\r\n\xfe\r\n+ok\r\n")
        with pytest.raises(UnicodeDecodeError):
            dec.gets()
        assert dec.gets() == "ok"
        # a protocol error in the middle of an aggregate, then reset with partial state
        bad = factory()
        bad.feed(b"*3\r\n%1\r\n+k\r\n*2\r\n:1\r\n:x\r\n")
        with pytest.raises(ProtocolError):
            bad.gets()
        bad.reset()
        bad.feed(b"*2\r\n$3\r\nab")
        assert bad.gets() is NEED_DATA
        bad.reset()

    return run


@pytest.mark.parametrize("factory", IMPLS)
def test_no_memory_growth(factory: Any) -> None:
    run = _workload(factory)
    for _ in range(300):  # warm caches, interned objects, free lists
        run()
    gc.collect()
    tracemalloc.start()
    try:
        run()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(3000):
            run()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # One leaked object per iteration would be > 100 KB here.
    assert after - before < 30_000, after - before


@pytest.mark.parametrize("factory", IMPLS)
def test_refcounts_of_shared_objects_stay_flat(factory: Any) -> None:
    handler_calls: list[Any] = []

    def handler(push: Any) -> None:
        handler_calls.append(len(push))

    reader = factory(push_handler=handler)
    reader.feed(b"+OK\r\n")
    ok = reader.gets()
    watched = [resp.NEED_DATA, handler, ok, None, True, False]
    gc.collect()
    before = [sys.getrefcount(o) for o in watched]
    for _ in range(5000):
        reader.feed(b"+OK\r\n>1\r\n+p\r\n_\r\n#t\r\n#f\r\n")
        while reader.gets() is not NEED_DATA:
            pass
        assert reader.gets() is NEED_DATA
    del handler_calls[:]
    gc.collect()
    after = [sys.getrefcount(o) for o in watched]
    # None/True/False are immortal-ish and shared process-wide: allow small drift.
    assert after[:3] == before[:3]
    assert all(abs(a - b) < 50 for a, b in zip(after[3:], before[3:], strict=True))


@pytest.mark.parametrize("factory", IMPLS)
def test_buffer_memory_is_released(factory: Any) -> None:
    payload = b"x" * (8 * 1024 * 1024)
    reader = factory()
    tracemalloc.start()
    try:
        reader.feed(b"$%d\r\n" % len(payload))
        for i in range(0, len(payload), 65536):
            reader.feed(payload[i : i + 65536])
        reader.feed(b"\r\n")
        value = reader.gets()
        assert len(value) == len(payload)
        del value
        reader.feed(b"+OK\r\n")  # the emptied buffer shrinks on the next feed
        assert reader.gets() == b"OK"
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 1_000_000, held


@pytest.mark.parametrize("factory", IMPLS)
def test_abandoned_big_bulks_are_freed(factory: Any) -> None:
    """A big bulk dropped half-way (reset, or the reader discarded) leaves nothing behind."""
    chunk = b"z" * 65536

    def run() -> None:
        reader = factory()
        reader.feed(b"$%d\r\n" % (4 * 1024 * 1024))
        for _ in range(8):
            reader.feed(chunk)
        assert reader.gets() is NEED_DATA
        assert reader.buffered() == 8 * 65536
        reader.reset()
        reader.feed(b"$%d\r\n" % (2 * 1024 * 1024) + chunk)
        assert reader.gets() is NEED_DATA
        del reader

    run()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(30):
            run()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 100_000, after - before

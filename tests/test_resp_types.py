"""Every RESP2/RESP3 type, fed whole, byte by byte, split at every offset, with trailing data."""

from __future__ import annotations

import math
from typing import Any

import pytest
from resp_support import IMPLS, drain, feed_chunks, splits, strict_equal

from gungnir import resp
from gungnir.resp import NEED_DATA, Push, Verbatim, VerbatimStr

CASES: list[tuple[str, bytes, Any]] = [
    ("simple", b"+OK\r\n", b"OK"),
    ("simple-empty", b"+\r\n", b""),
    ("int", b":1234\r\n", 1234),
    ("int-neg", b":-9223372036854775808\r\n", -(2**63)),
    ("int-max", b":9223372036854775807\r\n", 2**63 - 1),
    ("bulk", b"$5\r\nhello\r\n", b"hello"),
    ("bulk-crlf-inside", b"$4\r\n\r\n\r\n\r\n", b"\r\n\r\n"),
    ("bulk-empty", b"$0\r\n\r\n", b""),
    ("bulk-null", b"$-1\r\n", None),
    ("array-null", b"*-1\r\n", None),
    ("array", b"*3\r\n:1\r\n$1\r\na\r\n+b\r\n", [1, b"a", b"b"]),
    ("array-empty", b"*0\r\n", []),
    ("array-nested", b"*2\r\n*1\r\n*0\r\n*1\r\n_\r\n", [[[]], [None]]),
    ("null", b"_\r\n", None),
    ("true", b"#t\r\n", True),
    ("false", b"#f\r\n", False),
    ("double", b",1.5\r\n", 1.5),
    ("double-exp", b",-2.5e-3\r\n", -2.5e-3),
    ("double-exp-plus", b",1E+10\r\n", 1e10),
    ("double-int", b",10\r\n", 10.0),
    ("double-inf", b",inf\r\n", math.inf),
    ("double-neg-inf", b",-inf\r\n", -math.inf),
    ("double-nan", b",nan\r\n", math.nan),  # strict_equal: NaN matches NaN, nothing else
    ("double-neg-nan", b",-nan\r\n", math.nan),  # Redis before 7.2 could send it
    (
        "bignum",
        b"(3492890328409238509324850943850943825024385\r\n",
        3492890328409238509324850943850943825024385,
    ),
    ("bignum-neg", b"(-18446744073709551616\r\n", -(2**64)),
    ("map", b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", {b"a": 1, b"b": 2}),
    ("map-empty", b"%0\r\n", {}),
    ("map-unhashable", b"%1\r\n*2\r\n:1\r\n:2\r\n+v\r\n", {(1, 2): b"v"}),
    ("map-map-key", b"%1\r\n%1\r\n+k\r\n*1\r\n:1\r\n_\r\n", {((b"k", (1,)),): None}),
    (
        "map-unhashable-then-scalars",
        b"%2\r\n*1\r\n:1\r\n+v\r\n+k\r\n+w\r\n",
        {(1,): b"v", b"k": b"w"},
    ),
    ("set", b"~3\r\n:1\r\n:2\r\n:1\r\n", {1, 2}),
    ("set-unhashable", b"~1\r\n~1\r\n:1\r\n", {frozenset({1})}),
    ("push", b">2\r\n+message\r\n$2\r\nhi\r\n", Push([b"message", b"hi"])),
    ("push-empty", b">0\r\n", Push()),
    ("verbatim", b"=8\r\ntxt:abcd\r\n", Verbatim(b"abcd", "txt")),
    ("verbatim-empty", b"=4\r\nmkd:\r\n", Verbatim(b"", "mkd")),
    ("stream-string", b"$?\r\n;4\r\nHell\r\n;2\r\no!\r\n;0\r\n", b"Hello!"),
    ("stream-string-empty", b"$?\r\n;0\r\n", b""),
    ("stream-array", b"*?\r\n:1\r\n*?\r\n.\r\n.\r\n", [1, []]),
    ("stream-set", b"~?\r\n:1\r\n:1\r\n.\r\n", {1}),
    ("stream-map", b"%?\r\n+a\r\n#t\r\n.\r\n", {b"a": True}),
    ("error", b"-ERR unknown command 'x'\r\n", resp.ReplyError("ERR unknown command 'x'")),
    ("error-empty", b"-\r\n", resp.ReplyError("")),
    (
        "error-moved",
        b"-MOVED 3999 127.0.0.1:6381\r\n",
        resp.MovedError("MOVED 3999 127.0.0.1:6381"),
    ),
    ("blob-error", b"!21\r\nSYNTAX invalid syntax\r\n", resp.ReplyError("SYNTAX invalid syntax")),
    ("blob-error-crlf-inside", b"!9\r\nERR a\r\nbc\r\n", resp.ReplyError("ERR a\r\nbc")),
    ("blob-error-empty", b"!0\r\n\r\n", resp.ReplyError("")),
    ("blob-error-code", b"!13\r\nNOAUTH needed\r\n", resp.NoAuthError("NOAUTH needed")),
    ("error-in-array", b"*2\r\n-ERR x\r\n:1\r\n", [resp.ReplyError("ERR x"), 1]),
    ("attr-nested-dropped", b"*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n", [1, 2]),
]


@pytest.mark.parametrize("factory", IMPLS)
@pytest.mark.parametrize(("name", "wire", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_type_every_split(factory: Any, name: str, wire: bytes, expected: Any) -> None:
    for chunks in splits(wire):
        got = feed_chunks(factory, chunks)
        assert len(got) == 1, (name, chunks)
        assert strict_equal(got[0], expected), (name, chunks, got[0])


@pytest.mark.parametrize("factory", IMPLS)
@pytest.mark.parametrize(("name", "wire", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_type_with_trailing_data(factory: Any, name: str, wire: bytes, expected: Any) -> None:
    reader = factory()
    reader.feed(wire + b"+next\r\n:7")
    assert strict_equal(reader.gets(), expected)
    assert reader.gets() == b"next"
    assert reader.gets() is NEED_DATA
    assert reader.has_data() and reader.buffered() == 2
    reader.feed(b"\r\n")
    assert reader.gets() == 7
    assert reader.gets() is NEED_DATA and not reader.has_data()


@pytest.mark.parametrize("factory", IMPLS)
@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (b",.5\r\n", 0.5),
        (b",5.\r\n", 5.0),
        (b",-.5e1\r\n", -5.0),
        (b",+1.5\r\n", 1.5),
        (b",+inf\r\n", math.inf),
        (b",INF\r\n", math.inf),
        (b",-Inf\r\n", -math.inf),
        (b",NaN\r\n", math.nan),
        (b",007\r\n", 7.0),
    ],
)
def test_lenient_double_spellings(factory: Any, wire: bytes, expected: float) -> None:
    """Spellings RESP3 does not use but that have one obvious value are read, not refused.

    (docs/codec.md lists them; anything without one obvious value is a ProtocolError.)
    """
    for chunks in splits(wire):
        got = feed_chunks(factory, chunks)
        assert len(got) == 1 and strict_equal(got[0], expected), (wire, got)


@pytest.mark.parametrize("factory", IMPLS)
def test_nan_double(factory: Any) -> None:
    reader = factory()
    reader.feed(b",nan\r\n,-nan\r\n")
    assert all(math.isnan(x) for x in drain(reader))


@pytest.mark.parametrize("factory", IMPLS)
def test_all_cases_concatenated_every_split(factory: Any) -> None:
    wire = b"".join(c[1] for c in CASES)
    expected = [c[2] for c in CASES]
    for step in (1, 2, 3, 7, 64):
        chunks = [wire[i : i + step] for i in range(0, len(wire), step)]
        got = feed_chunks(factory, chunks)
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            assert strict_equal(a, b)


@pytest.mark.parametrize("factory", IMPLS)
def test_nan_is_never_returned_for_none_or_false(factory: Any) -> None:
    reader = factory()
    assert reader.gets() is NEED_DATA
    reader.feed(b"_\r\n#f\r\n$-1\r\n")
    assert reader.gets() is None
    assert reader.gets() is False
    assert reader.gets() is None
    assert reader.gets() is NEED_DATA


@pytest.mark.parametrize("factory", IMPLS)
def test_encoding(factory: Any) -> None:
    reader = factory(encoding="utf-8")
    reader.feed("+h\u00e9\r\n$2\r\nhi\r\n%1\r\n+k\r\n=8\r\ntxt:\u00e9\u00e9\r\n".encode())
    assert reader.gets() == "h\u00e9"
    assert reader.gets() == "hi"
    m = reader.gets()
    assert m == {"k": "\u00e9\u00e9"}
    v = m["k"]
    assert type(v) is VerbatimStr and v.format == "txt"


@pytest.mark.parametrize("factory", IMPLS)
def test_decode_error_consumes_reply_and_keeps_reader_usable(factory: Any) -> None:
    reader = factory(encoding="utf-8")
    reader.feed(b"*2\r\n$1\r\n\xff\r\n+ok\r\n+after\r\n")
    with pytest.raises(UnicodeDecodeError):
        reader.gets()
    assert reader.gets() == "after"


@pytest.mark.parametrize("factory", IMPLS)
def test_decode_errors_replace(factory: Any) -> None:
    reader = factory(encoding="utf-8", errors="replace")
    reader.feed(b"$1\r\n\xff\r\n")
    assert reader.gets() == "\ufffd"


@pytest.mark.parametrize("factory", IMPLS)
def test_attributes_out_of_band(factory: Any) -> None:
    reader = factory()
    reader.feed(b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n+plain\r\n")
    assert reader.gets() == b"v"
    assert reader.attributes == {b"ttl": 3}
    assert reader.gets() == b"plain"
    assert reader.attributes is None


@pytest.mark.parametrize("factory", IMPLS)
def test_attributes_split_every_offset(factory: Any) -> None:
    wire = b"|1\r\n+a\r\n*1\r\n:1\r\n*1\r\n:2\r\n"
    for chunks in splits(wire):
        reader = factory()
        for c in chunks:
            reader.feed(c)
        assert reader.gets() == [2]
        assert reader.attributes == {b"a": [1]}


@pytest.mark.parametrize("factory", IMPLS)
def test_push_handler_routes_pushes(factory: Any) -> None:
    seen: list[Any] = []
    reader = factory(push_handler=seen.append)
    reader.feed(b">2\r\n+invalidate\r\n*1\r\n+k\r\n:1\r\n>1\r\n+x\r\n")
    assert reader.gets() == 1
    assert reader.gets() is NEED_DATA  # a push never completes a reply
    assert seen == [Push([b"invalidate", [b"k"]]), Push([b"x"])]
    assert all(type(p) is Push for p in seen)


@pytest.mark.parametrize("factory", IMPLS)
def test_push_handler_exception_propagates_and_reader_continues(factory: Any) -> None:
    def boom(_p: Any) -> None:
        raise RuntimeError("handler")

    reader = factory(push_handler=boom)
    reader.feed(b">1\r\n+x\r\n:5\r\n")
    with pytest.raises(RuntimeError):
        reader.gets()
    assert reader.gets() == 5


@pytest.mark.parametrize("factory", IMPLS)
def test_push_without_handler_is_returned(factory: Any) -> None:
    reader = factory()
    reader.feed(b">1\r\n+x\r\n")
    got = reader.gets()
    assert type(got) is Push and got == [b"x"]


@pytest.mark.parametrize("factory", IMPLS)
def test_feed_offset_length_and_buffer_types(factory: Any) -> None:
    reader = factory()
    reader.feed(b"xx+OK\r\nyy", 2, 5)
    reader.feed(bytearray(b":1\r\n"))
    reader.feed(memoryview(b"___:2\r\n")[3:])
    assert drain(reader) == [b"OK", 1, 2]
    with pytest.raises(ValueError):
        reader.feed(b"abc", 4)
    with pytest.raises(ValueError):
        reader.feed(b"abc", 1, 5)
    with pytest.raises(TypeError):
        reader.feed("text")


@pytest.mark.parametrize("factory", IMPLS)
def test_reset_clears_partial_state(factory: Any) -> None:
    reader = factory()
    reader.feed(b"*2\r\n:1\r\n")
    assert reader.gets() is NEED_DATA
    reader.reset()
    assert not reader.has_data() and reader.buffered() == 0
    reader.feed(b":2\r\n")
    assert reader.gets() == 2


@pytest.mark.parametrize("factory", IMPLS)
def test_large_bulk_in_64k_chunks(factory: Any) -> None:
    payload = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    wire = b"$%d\r\n%s\r\n" % (len(payload), payload)
    reader = factory()
    for i in range(0, len(wire), 65536):
        assert reader.gets() is NEED_DATA
        reader.feed(wire[i : i + 65536])
    assert reader.gets() == payload


@pytest.mark.parametrize("factory", IMPLS)
def test_long_simple_string_split(factory: Any) -> None:
    line = b"x" * 200_000
    wire = b"+" + line + b"\r\n"
    reader = factory()
    for i in range(0, len(wire), 1000):
        reader.feed(wire[i : i + 1000])
    assert reader.gets() == line


def test_reply_types_behave() -> None:
    v = Verbatim(b"abc", "mkd")
    assert v == b"abc" and v.format == "mkd" and isinstance(v, bytes)
    import pickle

    assert pickle.loads(pickle.dumps(v)).format == "mkd"
    assert repr(resp.NEED_DATA) == "NEED_DATA" and not resp.NEED_DATA
    assert resp.NeedData() is resp.NEED_DATA
    assert pickle.loads(pickle.dumps(resp.NEED_DATA)) is resp.NEED_DATA
    assert resp.IMPLEMENTATION in ("cython", "python")


@pytest.mark.parametrize("factory", IMPLS)
def test_push_handler_may_feed_the_reader(factory: Any) -> None:
    """Re-entrancy: a handler that feeds (moving the buffer) or resets must be safe."""
    big = b"x" * 300_000
    holder: dict[str, Any] = {}

    def handler(push: Any) -> None:
        if push[0] == b"feed":
            holder["r"].feed(b"$%d\r\n%s\r\n" % (len(big), big))
        elif push[0] == b"reset":
            holder["r"].reset()

    reader = factory(push_handler=handler)
    holder["r"] = reader
    reader.feed(b">1\r\n+feed\r\n")
    assert reader.gets() == big
    reader.feed(b">1\r\n+reset\r\n:1\r\n")
    assert reader.gets() is NEED_DATA
    reader.feed(b":2\r\n")
    assert reader.gets() == 2

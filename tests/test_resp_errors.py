"""Reply errors (the ReplyError hierarchy), protocol errors, limits and malformed input."""

from __future__ import annotations

import pickle
import tracemalloc
from typing import Any

import pytest
from resp_support import IMPLS, drain, splits

from gungnir import resp
from gungnir.resp import NEED_DATA, ProtocolError


@pytest.mark.parametrize(
    ("text", "cls", "code"),
    [
        ("ERR unknown command", resp.ReplyError, "ERR"),
        ("MOVED 3999 127.0.0.1:6381", resp.MovedError, "MOVED"),
        ("ASK 3999 ::1:6381", resp.AskError, "ASK"),
        ("READONLY You can't write against a read only replica.", resp.ReadOnlyError, "READONLY"),
        ("NOAUTH Authentication required.", resp.NoAuthError, "NOAUTH"),
        ("WRONGPASS invalid username-password pair", resp.WrongPassError, "WRONGPASS"),
        ("LOADING Valkey is loading the dataset in memory", resp.LoadingError, "LOADING"),
        ("BUSY Valkey is busy running a script.", resp.BusyError, "BUSY"),
        ("NOSCRIPT No matching script.", resp.NoScriptError, "NOSCRIPT"),
        ("EXECABORT Transaction discarded", resp.ExecAbortError, "EXECABORT"),
        ("WRONGTYPE Operation against a key", resp.WrongTypeError, "WRONGTYPE"),
        ("NOPROTO unsupported protocol version", resp.NoProtoError, "NOPROTO"),
        ("BUSYKEY Target key name already exists.", resp.ReplyError, "BUSYKEY"),
        ("something lower case", resp.ReplyError, ""),
        ("", resp.ReplyError, ""),
        ("MOVED garbage", resp.ReplyError, "MOVED"),
    ],
)
@pytest.mark.parametrize("factory", IMPLS)
def test_error_classes(factory: Any, text: str, cls: type, code: str) -> None:
    reader = factory()
    reader.feed(b"-" + text.encode() + b"\r\n")
    err = reader.gets()
    assert type(err) is cls
    assert err.code == code and err.message == text and str(err) == text
    assert isinstance(err, resp.ReplyError) and isinstance(err, resp.RespError)
    assert pickle.loads(pickle.dumps(err)) == err


def test_redirect_fields() -> None:
    moved = resp.error_from_message("MOVED 3999 127.0.0.1:6381")
    assert isinstance(moved, resp.MovedError)
    assert (moved.slot, moved.host, moved.port) == (3999, "127.0.0.1", 6381)
    ask = resp.error_from_message("ASK 1 ::1:7000")
    assert isinstance(ask, resp.AskError) and ask.host == "::1" and ask.port == 7000
    same_host = resp.error_from_message("MOVED 5 :6379")
    assert isinstance(same_host, resp.MovedError) and same_host.host == ""
    assert type(resp.error_from_message("MOVED 99999 h:1")) is resp.ReplyError


@pytest.mark.parametrize("factory", IMPLS)
def test_blob_error(factory: Any) -> None:
    reader = factory()
    reader.feed(b"!22\r\nSYNTAX invalid\r\nsyntax\r\n")
    err = reader.gets()
    assert type(err) is resp.ReplyError and err.code == "SYNTAX"
    assert err.message == "SYNTAX invalid\r\nsyntax"


@pytest.mark.parametrize("factory", IMPLS)
def test_error_reply_with_invalid_utf8_never_fails(factory: Any) -> None:
    reader = factory(encoding="utf-8")
    reader.feed(b"-ERR \xff\r\n")
    assert reader.gets().message == "ERR \ufffd"


MALFORMED: list[tuple[str, bytes, str, int]] = [
    ("bad-type", b"?x\r\n", "invalid type byte 0x3f", 0),
    ("bad-type-after-reply", b"+OK\r\n\x00", "invalid type byte 0x00", 5),
    ("bad-int", b":12a\r\n", "invalid integer", 0),
    ("int-plus", b":+1\r\n", "invalid integer", 0),
    ("int-empty", b":\r\n", "invalid integer", 0),
    ("int-overflow", b":9223372036854775808\r\n", "integer out of 64-bit range", 0),
    ("bulk-neg", b"$-2\r\n", "invalid length", 0),
    ("bulk-minus-zero", b"$-0\r\n\r\n", "invalid length", 0),
    ("blob-error-minus-zero", b"!-0\r\n\r\n", "invalid length", 0),
    ("verbatim-minus-one", b"=-1\r\n", "invalid length", 0),
    ("chunk-minus-zero", b"$?\r\n;-0\r\n", "invalid length", 4),
    ("array-minus-zero", b"*-0\r\n", "invalid aggregate length", 0),
    ("map-minus-zero", b"%-0\r\n", "invalid aggregate length", 0),
    ("set-minus-one", b"~-1\r\n", "invalid aggregate length", 0),
    ("attr-minus-zero", b"|-0\r\n", "invalid aggregate length", 0),
    ("bulk-2^63", b"$9223372036854775808\r\n", "length exceeds max_bulk_len", 0),
    ("bulk-2^64", b"$18446744073709551616\r\n", "length exceeds max_bulk_len", 0),
    ("bulk-no-crlf", b"$3\r\nabcde\r\n", "bulk data not followed by CRLF", 7),
    ("bulk-bad-len", b"$x\r\n", "invalid length", 0),
    ("bulk-space", b"$ 3\r\nabc\r\n", "invalid length", 0),
    ("array-neg", b"*-2\r\n", "invalid aggregate length", 0),
    ("array-2^63", b"*9223372036854775807\r\n", "aggregate length exceeds max_elements", 0),
    ("map-null", b"%-1\r\n", "invalid aggregate length", 0),
    ("push-stream", b">?\r\n", "invalid aggregate length", 0),
    ("bool", b"#x\r\n", "invalid boolean", 0),
    ("bool-long", b"#tt\r\n", "invalid boolean", 0),
    ("null-data", b"_x\r\n", "invalid null", 0),
    ("double-word", b",infinity\r\n", "invalid double", 0),
    ("double-space", b", 1.5\r\n", "invalid double", 0),
    ("double-underscore", b",1_0\r\n", "invalid double", 0),
    ("double-empty", b",\r\n", "invalid double", 0),
    ("double-exp-only", b",1e\r\n", "invalid double", 0),
    ("double-dot-only", b",.\r\n", "invalid double", 0),
    ("double-two-signs", b",+-1\r\n", "invalid double", 0),
    ("double-nan-payload", b",nan(0x1)\r\n", "invalid double", 0),
    ("double-hex", b",0x10\r\n", "invalid double", 0),
    ("bignum", b"(12x\r\n", "invalid big number", 0),
    ("verbatim-short", b"=3\r\ntxt\r\n", "verbatim string shorter than 'fmt:'", 0),
    ("verbatim-no-colon", b"=5\r\ntxtab\r\n", "verbatim string lacks its 'fmt:' prefix", 4),
    ("stray-end", b".\r\n", "unexpected end marker", 0),
    ("end-in-sized", b"*1\r\n.\r\n", "unexpected end marker", 4),
    ("end-after-key", b"%?\r\n+k\r\n.\r\n", "streamed map ended after a key", 8),
    ("stray-chunk", b";1\r\na\r\n", "';' chunk outside a streamed string", 0),
    ("non-chunk-in-stream", b"$?\r\n+x\r\n", "expected a ';' chunk inside a streamed string", 4),
    ("header-too-long", b"*" + b"1" * 70, "line too long", 0),
    ("nested-error-offset", b"*2\r\n:1\r\n:x\r\n", "invalid integer", 8),
]


@pytest.mark.parametrize("factory", IMPLS)
@pytest.mark.parametrize(
    ("name", "wire", "message", "offset"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed(factory: Any, name: str, wire: bytes, message: str, offset: int) -> None:
    for chunks in splits(wire):
        reader = factory()
        error = None
        replies = []
        for chunk in chunks:
            reader.feed(chunk)
            try:
                replies.extend(drain(reader))
            except ProtocolError as exc:
                error = exc
                break
        assert error is not None, (name, chunks)
        assert (error.message, error.offset) == (message, offset), chunks
        # Poisoned until reset, even when good data follows.
        reader.feed(b"+OK\r\n")
        with pytest.raises(ProtocolError) as again:
            reader.gets()
        assert again.value == error
        reader.reset()
        reader.feed(b"+OK\r\n")
        assert reader.gets() == b"OK"


@pytest.mark.parametrize("factory", IMPLS)
def test_offset_counts_from_first_byte_across_compaction(factory: Any) -> None:
    reader = factory()
    for _ in range(1000):
        reader.feed(b"+OK\r\n")
        assert reader.gets() == b"OK"
    reader.feed(b":x\r\n")
    with pytest.raises(ProtocolError) as info:
        reader.gets()
    assert info.value.offset == 5000
    assert "at byte 5000" in str(info.value)


@pytest.mark.parametrize("factory", IMPLS)
def test_depth_limit(factory: Any) -> None:
    reader = factory(max_depth=3)
    reader.feed(b"*1\r\n*1\r\n*1\r\n:1\r\n")
    assert reader.gets() == [[[1]]]
    reader.feed(b"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n")
    with pytest.raises(ProtocolError, match="max_depth") as info:
        reader.gets()
    assert info.value.offset == 16 + 12


@pytest.mark.parametrize("factory", IMPLS)
def test_depth_bomb_is_bounded(factory: Any) -> None:
    bomb = b"*1\r\n" * 200_000
    reader = factory()
    tracemalloc.start()
    try:
        reader.feed(bomb)
        with pytest.raises(ProtocolError, match="max_depth") as info:
            reader.gets()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.offset == 1024 * 4
    assert peak < 5_000_000


@pytest.mark.parametrize("factory", IMPLS)
def test_deep_nesting_within_limit_no_recursion(factory: Any) -> None:
    depth = 5000
    reader = factory(max_depth=depth)
    reader.feed(b"*1\r\n" * depth + b":1\r\n")
    value = reader.gets()
    for _ in range(depth):
        value = value[0]
    assert value == 1


@pytest.mark.parametrize("factory", IMPLS)
def test_huge_headers_allocate_nothing(factory: Any) -> None:
    for header in (b"*2147483647\r\n", b"%2147483647\r\n", b"~4000000000\r\n", b"$536870912\r\n"):
        reader = factory()
        tracemalloc.start()
        try:
            reader.feed(header + b":1\r\n")
            assert reader.gets() is NEED_DATA
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1_000_000, header


@pytest.mark.parametrize("factory", IMPLS)
def test_limits(factory: Any) -> None:
    reader = factory(max_bulk_len=4, max_elements=2)
    reader.feed(b"$4\r\nabcd\r\n*2\r\n:1\r\n:2\r\n%2\r\n:1\r\n:1\r\n:2\r\n:2\r\n")
    assert drain(reader) == [b"abcd", [1, 2], {1: 1, 2: 2}]
    for wire, what in [
        (b"$5\r\nabcde\r\n", "max_bulk_len"),
        (b"*3\r\n", "max_elements"),
        (b"$?\r\n;3\r\nabc\r\n;2\r\nde\r\n;0\r\n", "streamed string exceeds max_bulk_len"),
        (b"*?\r\n:1\r\n:2\r\n:3\r\n.\r\n", "streamed aggregate exceeds max_elements"),
        (b"+abcdefgh\r\n", "line too long"),
        (b",10210\r\n", "line too long"),  # doubles obey the line limit, fast path too
        (b"*2\r\n,1.5\r\n,10210\r\n", "line too long"),
        (b"*2\r\n+ok\r\n+abcdefgh\r\n", "line too long"),
    ]:
        reader = factory(max_bulk_len=4, max_elements=2)
        reader.feed(wire)
        with pytest.raises(ProtocolError, match=what):
            reader.gets()


@pytest.mark.parametrize("factory", IMPLS)
def test_bad_constructor_arguments(factory: Any) -> None:
    with pytest.raises(LookupError):
        factory(encoding="no-such-codec")
    with pytest.raises(ValueError):
        factory(max_depth=0)
    with pytest.raises(TypeError):
        factory(push_handler=42)


@pytest.mark.parametrize(
    "pack", [resp.py_pack_command, resp.pack_command], ids=["python", "active"]
)
def test_pack_command(pack: Any) -> None:
    assert pack("SET", b"k", bytearray(b"v"), memoryview(b"w"), 12, -1.5) == (
        b"*6\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$1\r\nw\r\n$2\r\n12\r\n$4\r\n-1.5\r\n"
    )
    assert pack("\u00e9") == b"*1\r\n$2\r\n\xc3\xa9\r\n"
    with pytest.raises(TypeError, match="argument 2 has type NoneType"):
        pack("SET", "k", None)
    with pytest.raises(TypeError, match="argument 1 has type bool"):
        pack("SET", True)
    with pytest.raises(ValueError):
        pack()


@pytest.mark.parametrize(
    "pack", [resp.py_pack_commands, resp.pack_commands], ids=["python", "active"]
)
def test_pack_commands(pack: Any) -> None:
    assert pack([("PING",), ["GET", "k"]]) == resp.pack_command("PING") + resp.pack_command(
        "GET", "k"
    )
    assert pack([]) == b""
    with pytest.raises(TypeError, match="command 1 argument 0 has type dict"):
        pack([("PING",), ({},)])


def test_encode_resp3_and_resp2() -> None:
    enc = resp.encode
    assert enc(resp.OK) == b"+OK\r\n"
    assert enc(None) == b"_\r\n" and enc(None, protocol=2) == b"$-1\r\n"
    assert enc(True) == b"#t\r\n" and enc(False, protocol=2) == b":0\r\n"
    assert enc(2**64) == b"(18446744073709551616\r\n"
    assert enc(2**64, protocol=2) == b"$20\r\n18446744073709551616\r\n"
    assert enc(1.5) == b",1.5\r\n" and enc(1.5, protocol=2) == b"$3\r\n1.5\r\n"
    assert enc({b"a": 1}) == b"%1\r\n$1\r\na\r\n:1\r\n"
    assert enc({b"a": 1}, protocol=2) == b"*2\r\n$1\r\na\r\n:1\r\n"
    assert enc(resp.Push([b"x"])) == b">1\r\n$1\r\nx\r\n"
    assert enc(resp.Verbatim(b"hi", "txt")) == b"=6\r\ntxt:hi\r\n"
    assert enc(resp.Verbatim(b"hi", "txt"), protocol=2) == b"$2\r\nhi\r\n"
    assert enc(resp.ReplyError("ERR a\nb")) == b"!7\r\nERR a\nb\r\n"
    assert enc(resp.ReplyError("ERR a\nb"), protocol=2) == b"-ERR a b\r\n"
    assert enc({1}, protocol=2) == b"*1\r\n:1\r\n"
    with pytest.raises(TypeError, match="object"):
        enc(object())
    with pytest.raises(ValueError):
        enc(resp.SimpleString("a\r\nb"))
    with pytest.raises(ValueError):
        enc(1, protocol=1)


@pytest.mark.parametrize("factory", IMPLS)
def test_big_bulk_missing_crlf_reports_the_same_offset(factory: Any) -> None:
    body = b"y" * (2 * 1024 * 1024 + 17)
    wire = b"+first\r\n$%d\r\n%sXX" % (len(body), body)
    reader = factory()
    chunks = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    reader.feed(chunks[0])
    assert reader.gets() == b"first"
    for chunk in chunks[1:-1]:
        assert reader.gets() is NEED_DATA
        reader.feed(chunk)
    assert reader.gets() is NEED_DATA
    reader.feed(chunks[-1])
    with pytest.raises(ProtocolError) as info:
        reader.gets()
    assert info.value.message == "bulk data not followed by CRLF"
    assert info.value.offset == len(wire) - 2


@pytest.mark.parametrize("factory", IMPLS)
def test_big_bulk_every_boundary_around_the_terminator(factory: Any) -> None:
    """A big body whose CRLF (and the next reply) arrive split at every point."""
    body = bytes(range(256)) * 4097  # just over 1 MiB: the big-bulk path
    wire = b"$%d\r\n%s\r\n:7\r\n" % (len(body), body)
    cut = len(wire) - 8
    for extra in range(9):
        reader = factory()
        reader.feed(wire[: cut + extra])
        first = reader.gets()
        reader.feed(wire[cut + extra :])
        got = [first] if first is not NEED_DATA else []
        while (r := reader.gets()) is not NEED_DATA:
            got.append(r)
        assert got == [body, 7]
        assert reader.buffered() == 0

"""Differential tests: the Cython reader against its pure twin, and against hiredis.

The pure twin is the oracle: on *any* byte string (valid or not) the extension must give
the same replies, then the same outcome -- the same ProtocolError (message and byte offset)
or NEED_DATA with the same number of unparsed bytes -- however the input is chunked.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from resp_support import strict_equal
from test_resp_hypothesis import random_chunks

from gungnir import resp
from gungnir.resp import NEED_DATA, ProtocolError

cy = pytest.importorskip("gungnir._resp", reason="gungnir._resp not built")

TOKENS = [
    b"*",
    b"$",
    b"%",
    b"~",
    b">",
    b"|",
    b"!",
    b"=",
    b";",
    b".",
    b"+",
    b"-",
    b":",
    b",",
    b"(",
    b"#",
    b"_",
    b"\r\n",
    b"\r\n",
    b"\r\n",
    b"\r",
    b"\n",
    b"0",
    b"1",
    b"2",
    b"3",
    b"-1",
    b"?",
    b"10",
    b"4",
    b"txt:",
    b"OK",
    b"t",
    b"f",
    b"inf",
    b"nan",
    b"e",
    b"1.5",
    b"ERR x",
    b"\xff",
    b"9223372036854775808",
    b"MOVED 1 h:1",
    b" ",
    b"abc",
]
garbage = st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join) | st.binary(max_size=40)


def outcome(factory: Any, chunks: list[bytes], **kwargs: Any) -> tuple[list[Any], Any]:
    """(replies, final state): the error raised, or ("need", buffered bytes)."""
    reader = factory(**kwargs)
    replies: list[Any] = []
    for chunk in chunks:
        reader.feed(chunk)
        while True:
            try:
                reply = reader.gets()
            except ProtocolError as exc:
                # Poisoned: the same error again, even after more data.
                reader.feed(b"+OK\r\n")
                with pytest.raises(ProtocolError) as again:
                    reader.gets()
                assert again.value == exc
                return replies, ("protocol", exc.message, exc.offset)
            except UnicodeDecodeError as exc:
                replies.append(("decode-error", exc.reason))
                continue
            if reply is NEED_DATA:
                break
            replies.append((reply, reader.attributes))
    return replies, ("need", reader.buffered())


def assert_same(a: tuple[list[Any], Any], b: tuple[list[Any], Any]) -> None:
    assert a[1] == b[1]
    assert len(a[0]) == len(b[0])
    for x, y in zip(a[0], b[0], strict=True):
        assert strict_equal(x, y), (x, y)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=garbage, seed=st.integers(0, 2**32))
def test_agree_on_arbitrary_bytes(data: bytes, seed: int) -> None:
    rng = random.Random(seed)
    whole = outcome(resp.PyReader, [data])
    assert_same(whole, outcome(cy.Reader, [data]))
    # Chunking never changes the result of either reader.
    chunks = random_chunks(data, rng)
    assert_same(whole, outcome(resp.PyReader, chunks))
    assert_same(whole, outcome(cy.Reader, chunks))


@settings(max_examples=400, deadline=None)
@given(data=garbage, encoding=st.sampled_from(["utf-8", "latin-1", "ascii"]))
def test_agree_with_encoding_and_limits(data: bytes, encoding: str) -> None:
    kwargs = {"encoding": encoding, "max_depth": 3, "max_bulk_len": 5, "max_elements": 3}
    assert_same(outcome(resp.PyReader, [data], **kwargs), outcome(cy.Reader, [data], **kwargs))


@settings(max_examples=300, deadline=None)
@given(data=garbage)
def test_agree_with_push_handler(data: bytes) -> None:
    seen_py: list[Any] = []
    seen_cy: list[Any] = []
    a = outcome(resp.PyReader, [data], push_handler=seen_py.append)
    b = outcome(cy.Reader, [data], push_handler=seen_cy.append)
    assert_same(a, b)
    assert len(seen_py) == len(seen_cy)
    assert all(strict_equal(x, y) for x, y in zip(seen_py, seen_cy, strict=True))


def test_every_split_of_a_mixed_stream_agrees() -> None:
    data = (
        b"*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n~1\r\n:1\r\n|1\r\n+a\r\n:2\r\n,1e3\r\n"
        b">2\r\n+p\r\n_\r\n$?\r\n;1\r\nx\r\n;0\r\n*?\r\n#t\r\n.\r\n=6\r\ntxt:hi\r\n"
        b"!5\r\nERR a\r\n(99999999999999999999\r\n:x\r\n"
    )
    whole = outcome(resp.PyReader, [data])
    assert whole[1] == ("protocol", "invalid integer", len(data) - 4)
    for i in range(len(data) + 1):
        assert_same(whole, outcome(cy.Reader, [data[:i], data[i:]]))


# -- against hiredis, on the subset it supports -------------------------------------------

hiredis = pytest.importorskip("hiredis")


class _NullArray:
    """Marks where the RESP2 null array ``*-1`` goes in a generated value."""

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()

h_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**63, max_value=2**300),  # big numbers: ( in RESP3
    st.integers(min_value=-(2**300), max_value=-(2**63) - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=30),
    st.builds(
        resp.Verbatim,
        st.binary(max_size=20),
        st.sampled_from(["txt", "mkd", "xyz"]),
    ),
    st.just(NULL_ARRAY),
    st.text(max_size=20).map(
        lambda s: resp.error_from_message("ERR " + s.replace("\r", "").replace("\n", ""))
    ),
)
h_keys = st.one_of(st.integers(-1000, 1000), st.binary(max_size=10))
h_values = st.recursive(
    h_leaves,
    lambda c: st.one_of(
        st.lists(c, max_size=5),
        st.dictionaries(h_keys, c, max_size=4),
        st.sets(h_keys, max_size=4),
        st.lists(c, max_size=3).map(resp.Push),
    ),
    max_leaves=20,
)
_MISSING = object()


def h_encode(value: Any, protocol: int) -> bytes:
    """resp.encode, plus NULL_ARRAY written as ``*-1`` (a RESP2 reply encode never writes)."""
    if value is NULL_ARRAY:
        return b"*-1\r\n"
    if type(value) in (list, resp.Push):
        head = b">" if type(value) is resp.Push and protocol == 3 else b"*"
        return head + b"%d\r\n" % len(value) + b"".join(h_encode(v, protocol) for v in value)
    if type(value) is dict:
        head = b"%%%d\r\n" % len(value) if protocol == 3 else b"*%d\r\n" % (2 * len(value))
        return head + b"".join(
            resp.encode(k, protocol=protocol) + h_encode(v, protocol) for k, v in value.items()
        )
    return resp.encode(value, protocol=protocol)


def normalise(value: Any) -> Any:
    """Map both libraries' results to one shape (docs/codec.md, "Agreement with hiredis").

    hiredis 3.x returns sets and pushes as lists, errors as its own ReplyError, big numbers
    as the bytes of their digits and verbatim strings as bytes without the ``fmt:`` prefix
    (the format is dropped); we return set/Push, our ReplyError subclasses, ``int`` and
    :class:`~gungnir.resp.Verbatim`. Compare: sets as frozensets, pushes as lists, errors as
    ("error", message), integers beyond 64 bits as the bytes of their digits, verbatim
    strings as plain bytes; floats compared exactly, NaN by isnan. ``*-1`` is ``None`` in
    both and needs nothing.
    """
    if isinstance(value, BaseException):
        return ("error", str(value))
    if isinstance(value, (set, frozenset)):
        return frozenset(normalise(v) for v in value)
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {normalise(k): normalise(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return str(value).encode()
    if isinstance(value, resp.Verbatim):
        return bytes(value)
    return value


def _hiredis_parse(wire: bytes) -> list[Any]:
    reader = hiredis.Reader(notEnoughData=_MISSING)
    reader.feed(wire)
    out = []
    while (r := reader.gets()) is not _MISSING:
        out.append(r)
    return out


def _set_members_as_set(value: Any, like: Any) -> Any:
    """Where ours returned a set, turn hiredis's list at the same place into a set."""
    if isinstance(like, (set, frozenset)) and isinstance(value, list):
        return {v for v in value}
    if isinstance(like, list) and isinstance(value, list):
        return [_set_members_as_set(v, w) for v, w in zip(value, like, strict=True)]
    if isinstance(like, dict) and isinstance(value, dict):
        return {k: _set_members_as_set(value[k], like[k]) for k in value}
    return value


def test_hiredis_shapes_that_normalise_assumes() -> None:
    """What normalise() relies on, checked against the installed hiredis."""
    big = b"(123456789012345678901234567890\r\n"
    assert _hiredis_parse(big + b"=8\r\ntxt:abcd\r\n*-1\r\n") == [
        b"123456789012345678901234567890",
        b"abcd",
        None,
    ]
    ours = resp.PyReader()
    ours.feed(big + b"=8\r\ntxt:abcd\r\n*-1\r\n")
    assert [normalise(ours.gets()) for _ in range(3)] == [
        b"123456789012345678901234567890",
        b"abcd",
        None,
    ]


@settings(max_examples=500, deadline=None)
@given(value=h_values)
def test_agree_with_hiredis(value: Any) -> None:
    wire = h_encode(value, 3) + h_encode(value, 2)
    theirs = _hiredis_parse(wire)
    for factory in (resp.PyReader, cy.Reader):
        reader = factory()
        reader.feed(wire)
        ours = [reader.gets(), reader.gets()]
        assert reader.gets() is NEED_DATA
        assert len(theirs) == 2
        for a, b in zip(ours, theirs, strict=True):
            assert normalise(a) == normalise(_set_members_as_set(b, a))


@settings(max_examples=2000, deadline=None)
@given(
    neg=st.booleans(),
    whole=st.text(alphabet="0123456789", min_size=1, max_size=18),
    frac=st.none() | st.text(alphabet="0123456789", min_size=0, max_size=18),
)
def test_doubles_match_float_exactly(neg: bool, whole: str, frac: str | None) -> None:
    """The extension's fast decimal path must round exactly like float()."""
    text = ("-" if neg else "") + whole + ("" if frac is None else "." + frac)
    wire = b",%s\r\n" % text.encode()
    for factory in (resp.PyReader, cy.Reader):
        reader = factory()
        reader.feed(wire)
        value = reader.gets()
        assert value == float(text) and math.copysign(1, value) == math.copysign(1, float(text))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.recursive(
        st.one_of(st.binary(max_size=12), st.integers(-5, 5), st.none(), st.booleans()),
        lambda c: st.one_of(
            st.lists(c, max_size=6),
            st.dictionaries(st.binary(max_size=6), c, max_size=5),
            st.sets(st.binary(max_size=6), max_size=4),
        ),
        max_leaves=40,
    ),
    errors=st.sampled_from(["strict", "replace", "surrogateescape"]),
    seed=st.integers(0, 2**32),
)
def test_agree_on_structured_replies_with_encoding(value: Any, errors: str, seed: int) -> None:
    """Valid nested replies (whose bytes may not be UTF-8) under every decoding mode."""
    rng = random.Random(seed)
    wire = resp.encode(value) * 2
    chunks = random_chunks(wire, rng)
    kwargs = {"encoding": "utf-8", "errors": errors}
    assert_same(outcome(resp.PyReader, chunks, **kwargs), outcome(cy.Reader, chunks, **kwargs))
    assert_same(outcome(resp.PyReader, [wire]), outcome(cy.Reader, chunks))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_random_streams_agree(seed: int) -> None:
    """A seeded, bounded fuzz run: token soup with valid replies spliced in, three configs.

    Cheaper per case than hypothesis, so it reaches more states (it found a fast path that
    skipped a limit); failures print the input and are reproducible from the seed.
    """
    rng = random.Random(seed)
    samples = [
        b"x" * 3,
        {b"k": [1, None, True, 1.5]},
        {b"a", b"b"},
        resp.Push([b"p"]),
        [[b"ab", -3], {b"f": 2.25}],
    ]
    configs: list[dict[str, Any]] = [
        {},
        {"encoding": "utf-8"},
        {"max_depth": 2, "max_elements": 3, "max_bulk_len": 4},
    ]
    for _ in range(4000):
        parts = [
            rng.choice(TOKENS) if rng.random() < 0.9 else bytes([rng.randrange(256)])
            for _ in range(rng.randrange(1, 60))
        ]
        if rng.random() < 0.5:
            parts.insert(rng.randrange(len(parts) + 1), resp.encode(rng.choice(samples)))
        data = b"".join(parts)
        kwargs = rng.choice(configs)
        whole = outcome(resp.PyReader, [data], **kwargs)
        try:
            assert_same(whole, outcome(cy.Reader, [data], **kwargs))
            assert_same(whole, outcome(cy.Reader, random_chunks(data, rng), **kwargs))
        except AssertionError:
            pytest.fail(f"readers disagree on {data!r} with {kwargs}")


# -- the request encoders: compiled and pure give the same bytes or the same error --------


class _Int(int):
    pass


class _Float(float):
    pass


class _Str(str):
    pass


class _Bytes(bytes):
    pass


def _memoryviews(data: bytes) -> list[memoryview]:
    """The same bytes seen through views of several shapes: 1-D, 2-D, wider items, strided."""
    views = [memoryview(data), memoryview(bytearray(data))]
    if len(data) % 4 == 0:
        views.append(memoryview(data).cast("i"))
        views.append(memoryview(data).cast("i")[::-1])  # wider items, not contiguous
    if len(data) % 2 == 0 and data:
        views.append(memoryview(data).cast("B", (2, len(data) // 2)))
    views.append(memoryview(data)[::2])  # not contiguous
    views.append(memoryview(data)[::-1])
    return views


_surrogate_text = st.text(
    alphabet=st.sampled_from(["a", "\u00e9", "\u20ac", "\U0001f600", "\ud800", "\udfff", "\x00"]),
    max_size=6,
)
pack_args = st.one_of(
    st.binary(max_size=20),
    st.binary(max_size=20).map(bytearray),
    st.tuples(st.binary(max_size=24), st.integers(0, 6)).map(
        lambda t: (views := _memoryviews(t[0]))[t[1] % len(views)]
    ),
    st.binary(max_size=8).map(_Bytes),
    st.text(max_size=12),
    _surrogate_text,
    _surrogate_text.map(_Str),
    st.integers(),
    st.integers(min_value=2**62, max_value=2**65) | st.integers(-(2**65), -(2**62)),
    st.sampled_from([0, -1, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64 - 1, 2**64]),
    st.integers().map(_Int),
    st.floats(),  # nan, inf, -0.0, subnormals included
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 1e16, 1e-7, 5e-324]),
    st.floats(allow_nan=False).map(_Float),
    st.booleans(),
    st.sampled_from([None, {}, [], (), 1j, object, set(), b"".join]),
)


def _pack_outcome(pack: Any, *args: Any) -> tuple[str, Any]:
    try:
        return ("ok", pack(*args))
    except Exception as exc:  # the type and text of the error are the outcome
        return ("error", (type(exc), str(exc)))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=st.lists(pack_args, max_size=8))
def test_pack_command_agrees(args: list[Any]) -> None:
    compiled = _pack_outcome(cy.pack_command, *args)
    assert compiled == _pack_outcome(resp.py_pack_command, *args)
    if compiled[0] == "ok":  # and the bytes are the RESP array of the arguments' bytes
        reader = resp.PyReader()
        reader.feed(compiled[1])
        assert len(reader.gets()) == len(args) and not reader.has_data()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    commands=st.lists(
        st.one_of(
            st.lists(pack_args, max_size=4),
            st.lists(pack_args, max_size=4).map(tuple),
            st.sampled_from([b"PING", "PING", None, 7]),  # not an argument sequence
        ),
        max_size=5,
    )
)
def test_pack_commands_agrees(commands: list[Any]) -> None:
    compiled = _pack_outcome(cy.pack_commands, commands)
    assert compiled == _pack_outcome(resp.py_pack_commands, commands)
    assert _pack_outcome(cy.pack_commands, iter(commands)) == compiled  # any iterable

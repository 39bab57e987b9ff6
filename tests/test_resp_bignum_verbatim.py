"""Big numbers and verbatim strings: the compiled paths against the pure definitions.

The extension builds big numbers from digits summed in C and verbatim strings as its own
compiled ``Verbatim`` type (which ``gungnir.resp.Verbatim`` then is, for both readers).
These tests hold both to the pure behaviour: ``int()`` of the digits, with its digit
limit, and the pure ``PyVerbatim`` class.
"""

from __future__ import annotations

import copy
import gc
import os
import pickle
import random
import subprocess
import sys
from typing import Any

import pytest
from resp_support import IMPLS, cython_resp, drain, pure_and_compiled, strict_equal

from gungnir import _resp_types, resp
from gungnir.resp import NEED_DATA, ProtocolError

VERBATIM_TYPES = pure_and_compiled(_resp_types.PyVerbatim, "Verbatim", ("pure", "compiled"))


def _numbers() -> list[str]:
    """Digit strings around every boundary of the C paths: the 8-digit groups, 64 and 128
    bits (the register spills to limbs), the int's 30-bit digits, and 640 digits (past
    it PyLong_FromString takes over)."""
    rng = random.Random(15)
    out = [
        "0",
        "-0",
        "007",
        "-" + "0" * 25,
        "0" * 19 + "5",
        str(2**63 - 1),
        str(-(2**63)),
        str(-(2**63) - 1),
        str(2**64 - 1),
        str(2**64),
        str(-(2**64)),
        "9" * 38,
        "-" + "9" * 38,
        "1" + "0" * 37,
        str(2**127 - 1),
        "9" * 39,
        "1" + "0" * 38,
    ]
    out += [str(2**bits + d) for bits in (63, 64, 90, 120, 127, 128, 129) for d in (-1, 0, 1)]
    lengths = (1, 7, 8, 9, 15, 16, 17, 18, 19, 20, 21, 27, 30, 31, 32, 38, 39, 80, 639, 640, 641)
    for digits in lengths:
        for _ in range(10):
            text = str(rng.randrange(1, 10)) + "".join(
                rng.choice("0123456789") for _ in range(digits - 1)
            )
            out += [text, "-" + text]
    return out


NUMBERS = _numbers()
BIGNUM_WIRE = b"".join(b"(%s\r\n" % n.encode() for n in NUMBERS)


@pytest.mark.parametrize("factory", IMPLS)
def test_big_numbers_are_int_of_their_digits(factory: Any) -> None:
    expected = [int(n) for n in NUMBERS]
    reader = factory()
    reader.feed(BIGNUM_WIRE + b"*%d\r\n" % len(NUMBERS) + BIGNUM_WIRE)
    got = drain(reader)
    assert got[:-1] == expected and got[-1] == expected
    assert all(type(v) is int for v in got[:-1] + got[-1])


@pytest.mark.parametrize("factory", IMPLS)
def test_big_numbers_split_anywhere(factory: Any) -> None:
    """Byte by byte: every digit boundary is also a feed boundary once."""
    wire = b"*3\r\n(-123456789012345678901234567\r\n(1\r\n(99999999999999999999\r\n"
    reader = factory()
    out: list[Any] = []
    for i in range(len(wire)):
        reader.feed(wire[i : i + 1])
        out += drain(reader)
    assert out == [[-123456789012345678901234567, 1, 99999999999999999999]]


@pytest.mark.parametrize("factory", IMPLS)
def test_big_number_digit_limit_is_ints(factory: Any) -> None:
    """Past sys.get_int_max_str_digits() both readers refuse, exactly where int() does."""
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        reader = factory()
        reader.feed(b"(-" + b"7" * 640 + b"\r\n")
        assert reader.gets() == -int("7" * 640)
        reader.feed(b"*2\r\n:1\r\n(" + b"7" * 641 + b"\r\n")
        with pytest.raises(ProtocolError) as info:
            reader.gets()
        assert (info.value.message, info.value.offset) == ("big number too long", 652)
    finally:
        sys.set_int_max_str_digits(old)


@pytest.mark.parametrize("factory", IMPLS)
@pytest.mark.parametrize(
    ("wire", "message", "offset"),
    [
        (b"(-\r\n", "invalid big number", 0),
        (b"(\r\n", "invalid big number", 0),
        (b"*2\r\n(12\r\n(1 2\r\n", "invalid big number", 9),
        (b"(+5\r\n", "invalid big number", 0),
        (b"(1_000\r\n", "invalid big number", 0),
        (b"( 5\r\n", "invalid big number", 0),
        (b"*1\r\n=6\r\ntxt;ab\r\n", "verbatim string lacks its 'fmt:' prefix", 8),
        (b"*1\r\n=3\r\ntxt\r\n", "verbatim string shorter than 'fmt:'", 4),
        (b"=6\r\ntxt:abX\r\n", "bulk data not followed by CRLF", 10),
    ],
)
def test_errors_near_the_fast_paths(factory: Any, wire: bytes, message: str, offset: int) -> None:
    reader = factory()
    reader.feed(wire)
    with pytest.raises(ProtocolError) as info:
        drain(reader)
    assert (info.value.message, info.value.offset) == (message, offset)


@pytest.mark.parametrize("factory", IMPLS)
def test_verbatim_values_and_formats(factory: Any) -> None:
    reader = factory()
    reader.feed(b"=8\r\ntxt:abcd\r\n*3\r\n=4\r\nmkd:\r\n=6\r\nx\xe9y:\r\n\r\n=5\r\ntxt:z\r\n")
    top, inner = drain(reader)
    assert type(top) is resp.Verbatim and (top, top.format) == (b"abcd", "txt")
    assert [(type(v), bytes(v), v.format) for v in inner] == [
        (resp.Verbatim, b"", "mkd"),
        (resp.Verbatim, b"\r\n", "x\xe9y"),  # the format is latin-1, as in the pure twin
        (resp.Verbatim, b"z", "txt"),
    ]
    text = factory(encoding="utf-8")
    text.feed(b"=9\r\ntxt:caf\xc3\xa9\r\n")
    value = text.gets()
    assert type(value) is resp.VerbatimStr and (value, value.format) == ("café", "txt")


def test_both_readers_return_the_public_type() -> None:
    assert resp.Verbatim is _resp_types.Verbatim
    if cython_resp is not None and os.environ.get("GUNGNIR_PURE", "") in ("", "0"):
        assert resp.Verbatim is cython_resp.Verbatim
    for factory in (resp.PyReader, resp.Reader):
        reader = factory()
        reader.feed(b"=5\r\ntxt:a\r\n")
        assert type(reader.gets()) is resp.Verbatim


@pytest.mark.skipif(cython_resp is None, reason="gungnir._resp not built")
@pytest.mark.parametrize("first", ["gungnir.resp", "gungnir._resp"])
@pytest.mark.parametrize("pure", ["0", "1"])
def test_one_verbatim_type_whatever_is_imported_first(first: str, pure: str) -> None:
    """GUNGNIR_PURE=1 keeps the pure class; the extension then builds that one too."""
    code = (
        f"import {first}\n"
        "from gungnir import _resp, _resp_types, resp\n"
        "r = _resp.Reader(); r.feed(b'=5\\r\\ntxt:a\\r\\n'); v = r.gets()\n"
        "p = resp.PyReader(); p.feed(b'=5\\r\\ntxt:a\\r\\n'); w = p.gets()\n"
        "assert type(v) is type(w) is resp.Verbatim is _resp_types.Verbatim, (type(v), type(w))\n"
        "print(resp.Verbatim is _resp_types.PyVerbatim)\n"
    )
    env = {**os.environ, "GUNGNIR_PURE": pure}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("True" if pure == "1" else "False")


@pytest.mark.parametrize("cls", VERBATIM_TYPES)
def test_verbatim_type_behaves_as_the_pure_class(cls: Any) -> None:
    pure = _resp_types.PyVerbatim
    v = cls(b"abc", "mkd")
    assert isinstance(v, bytes) and v == b"abc" and hash(v) == hash(b"abc")
    assert v == pure(b"abc", "txt")  # bytes equality: the format is not compared
    assert repr(v) == repr(pure(b"abc", "mkd")) == "Verbatim(b'abc', format='mkd')"
    assert cls(b"x").format == "txt" and cls(data=b"x", format="md").format == "md"
    assert cls(bytearray(b"ab"), "txt") == cls(memoryview(b"ab")) == cls([97, 98]) == b"ab"
    assert type(v[1:]) is bytes and v.upper() == b"ABC" and len(v) == 3
    assert {v: 1}[b"abc"] == 1
    for again in (pickle.loads(pickle.dumps(v)), copy.copy(v), copy.deepcopy(v)):
        assert strict_equal(again, resp.Verbatim(b"abc", "mkd"))
    v.format = "txt"
    assert v.format == "txt"
    with pytest.raises(TypeError):
        cls("text")

    class Sub(cls):  # type: ignore[misc,valid-type]
        pass

    s = Sub(b"hello", "txt")
    s.note = 1
    assert (s, s.format, s.note, type(s[:1])) == (b"hello", "txt", 1, bytes)


@pytest.mark.skipif(cython_resp is None, reason="gungnir._resp not built")
def test_compiled_verbatim_frees_its_format_and_itself() -> None:
    cls = cython_resp.Verbatim
    fmt = "".join(["x", "yz"])  # a string only this test holds
    base = sys.getrefcount(fmt)
    for size in (0, 1, 7, 8, 9, 100, 5000):
        values = [cls(b"q" * size, fmt) for _ in range(100)]
        assert sys.getrefcount(fmt) == base + 100
        assert all(bytes(v) == b"q" * size for v in values)
        del values
        gc.collect()
        assert sys.getrefcount(fmt) == base
    subclass_values = [type("S", (cls,), {})(b"ab", fmt) for _ in range(10)]
    del subclass_values
    gc.collect()
    assert sys.getrefcount(fmt) == base


@pytest.mark.parametrize("factory", IMPLS)
def test_fast_paths_keep_the_limits(factory: Any) -> None:
    for wire, message in [
        (b"(1234\r\n", "line too long"),
        (b"*2\r\n(1\r\n(12345\r\n", "line too long"),
        (b"=9\r\ntxt:abcde\r\n", "length exceeds max_bulk_len"),
        (b"*1\r\n=9\r\ntxt:abcde\r\n", "length exceeds max_bulk_len"),
    ]:
        reader = factory(max_bulk_len=3)
        reader.feed(wire)
        with pytest.raises(ProtocolError, match=message):
            reader.gets()
    reader = factory(max_bulk_len=4)
    reader.feed(b"(1234\r\n=4\r\ntxt:\r\n")
    assert drain(reader) == [1234, b""]
    assert reader.gets() is NEED_DATA

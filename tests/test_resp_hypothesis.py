"""Property tests: encode -> parse round trips under random chunking, in both readers.

Values are generated RESP3 replies (every type the encoder writes, nested), optionally
preceded by an attribute map, optionally written in the streamed forms, and fed in random
pieces. Both readers must give back exactly the value (types included) and attributes.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from resp_support import IMPLS, feed_chunks, strict_equal

from gungnir import resp

hashable_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**63, max_value=2**200),
    st.integers(min_value=-(2**200), max_value=-(2**63) - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=40),
)
leaves = st.one_of(
    hashable_leaves,
    st.just(float("nan")),
    st.builds(
        resp.Verbatim,
        st.binary(max_size=20),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=3),
    ),
    st.text(max_size=30).map(lambda s: resp.error_from_message("ERR " + s)),
    st.sampled_from(["MOVED 3999 127.0.0.1:6381", "ASK 1 ::1:7000", "READONLY no"]).map(
        resp.error_from_message
    ),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(hashable_leaves, children, max_size=5),
        st.sets(hashable_leaves, max_size=5),
        st.lists(children, max_size=4).map(resp.Push),
    )


values = st.recursive(leaves, _containers, max_leaves=30)


def encode_streamed(value: Any, rng: random.Random) -> bytes:
    """Like resp.encode, but randomly uses the streamed forms for strings and aggregates."""
    if isinstance(value, bytes) and not isinstance(value, resp.Verbatim) and rng.random() < 0.3:
        out = [b"$?\r\n"]
        i = 0
        while i < len(value):
            step = rng.randint(1, max(1, len(value) - i))
            out.append(b";%d\r\n%s\r\n" % (step, value[i : i + step]))
            i += step
        out.append(b";0\r\n")
        return b"".join(out)
    if type(value) in (list, set, dict) and rng.random() < 0.3:
        head = {list: b"*?\r\n", set: b"~?\r\n", dict: b"%?\r\n"}[type(value)]
        items = [x for kv in value.items() for x in kv] if isinstance(value, dict) else list(value)
        return head + b"".join(encode_streamed(v, rng) for v in items) + b".\r\n"
    if type(value) in (list, resp.Push):
        head = b">%d\r\n" if isinstance(value, resp.Push) else b"*%d\r\n"
        return head % len(value) + b"".join(encode_streamed(v, rng) for v in value)
    if type(value) is dict:
        return b"%%%d\r\n" % len(value) + b"".join(
            encode_streamed(k, rng) + encode_streamed(v, rng) for k, v in value.items()
        )
    if type(value) is set:
        return b"~%d\r\n" % len(value) + b"".join(encode_streamed(v, rng) for v in value)
    return resp.encode(value)


def random_chunks(data: bytes, rng: random.Random) -> list[bytes]:
    out = []
    i = 0
    while i < len(data):
        step = rng.choice([1, 1, 2, 3, 5, 8, 64, len(data)])
        out.append(data[i : i + step])
        i += step
    return out


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("factory", IMPLS)
@SETTINGS
@given(value=values, seed=st.integers(0, 2**32))
def test_roundtrip_random_chunks(factory: Any, value: Any, seed: int) -> None:
    rng = random.Random(seed)
    wire = resp.encode(value)
    got = feed_chunks(factory, random_chunks(wire + wire, rng))
    assert len(got) == 2
    assert strict_equal(got[0], value) and strict_equal(got[1], value)


@pytest.mark.parametrize("factory", IMPLS)
@SETTINGS
@given(value=values, seed=st.integers(0, 2**32))
def test_roundtrip_streamed_forms(factory: Any, value: Any, seed: int) -> None:
    rng = random.Random(seed)
    wire = encode_streamed(value, rng)
    got = feed_chunks(factory, random_chunks(wire, rng))
    assert len(got) == 1 and strict_equal(got[0], value)


@pytest.mark.parametrize("factory", IMPLS)
@SETTINGS
@given(
    attrs=st.dictionaries(hashable_leaves, values, min_size=1, max_size=3),
    value=values,
    seed=st.integers(0, 2**32),
)
def test_roundtrip_with_attributes(
    factory: Any, attrs: dict[Any, Any], value: Any, seed: int
) -> None:
    rng = random.Random(seed)
    body = resp.encode(attrs)
    wire = b"|" + body[1:] + resp.encode(value) + b"+tail\r\n"
    reader = factory()
    replies = []
    seen_attrs = []
    for chunk in random_chunks(wire, rng):
        reader.feed(chunk)
        while (r := reader.gets()) is not resp.NEED_DATA:
            replies.append(r)
            seen_attrs.append(reader.attributes)
    assert len(replies) == 2
    assert strict_equal(replies[0], value) and strict_equal(seen_attrs[0], attrs)
    assert replies[1] == b"tail" and seen_attrs[1] is None


def downgrade(value: Any) -> Any:
    """What a RESP2 client should read back for a value encoded with protocol=2."""
    if isinstance(value, resp.ReplyError):
        return resp.error_from_message(value.message.replace("\r", " ").replace("\n", " "))
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    if isinstance(value, resp.Verbatim):
        return bytes(value)
    if isinstance(value, dict):
        return [downgrade(x) for kv in value.items() for x in kv]
    if isinstance(value, (list, set)):  # Push included: RESP2 has only arrays
        return [downgrade(x) for x in value]
    return value


@pytest.mark.parametrize("factory", IMPLS)
@SETTINGS
@given(value=values)
def test_resp2_downgrade(factory: Any, value: Any) -> None:
    """protocol=2 output is plain RESP2 that reads back as the documented downgrade."""
    wire = resp.encode(value, protocol=2)
    assert not any(wire.startswith(t) for t in (b"_", b"#", b",", b"(", b"%", b"~", b">", b"="))
    got = feed_chunks(factory, [wire])
    assert len(got) == 1 and strict_equal(got[0], downgrade(value))

"""Shared helpers for the RESP codec tests: reader factories and the feeding modes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gungnir import resp

try:
    from gungnir import _resp as cython_resp
except ImportError:  # extension not built
    cython_resp = None

ReaderFactory = Callable[..., Any]


def pure_and_compiled(pure: Any, name: str, ids: tuple[str, str]) -> list[Any]:
    """pytest params: ``pure``, and the extension's ``name`` (skipped when it is not built)."""
    return [
        pytest.param(pure, id=ids[0]),
        pytest.param(
            getattr(cython_resp, name, None),
            id=ids[1],
            marks=pytest.mark.skipif(cython_resp is None, reason="gungnir._resp not built"),
        ),
    ]


IMPLS: list[Any] = pure_and_compiled(resp.PyReader, "Reader", ("python", "cython"))


def drain(reader: Any) -> list[Any]:
    """Every complete reply currently available."""
    out = []
    while (reply := reader.gets()) is not resp.NEED_DATA:
        out.append(reply)
    return out


def feed_chunks(factory: ReaderFactory, chunks: list[bytes], **kwargs: Any) -> list[Any]:
    """Feed chunk by chunk, draining after each; return all replies."""
    reader = factory(**kwargs)
    out: list[Any] = []
    for chunk in chunks:
        reader.feed(chunk)
        out.extend(drain(reader))
    assert not reader.has_data()
    return out


def splits(data: bytes) -> Iterator[list[bytes]]:
    """Whole, byte by byte, and every two-way split."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]


def strict_equal(a: Any, b: Any) -> bool:
    """Equality that also checks types (True != 1, Push != list, b'' != '')."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and a != a:
        return b != b
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        return all(
            strict_equal(ka, kb) and strict_equal(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, (resp.Verbatim, resp.VerbatimStr)):
        return a == b and a.format == b.format
    if isinstance(a, set | frozenset):
        return a == b
    return bool(a == b)

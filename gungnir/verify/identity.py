"""Sound state identity: a canonical, type-tagged encoding of a world and its 128-bit digest.

The explorer deduplicates states by identity, so two different worlds given the same identity
means one of them is never explored: a missed state, silently.  Python's ``hash()`` cannot be
that identity: ``hash(-1) == hash(-2)``, ``hash(1) == hash(1.0) == hash(True)``, and any two
values may collide.  Here a value is first turned into a canonical form whose ``repr`` is
injective (different values, different text), and the text is digested with BLAKE2b to 16
bytes.  A digest collision among a billion states has a probability near 2**-68.

Why ``repr`` of a canonical form: ``repr`` runs in C over nested tuples and already tells the
value classes apart (``1``, ``1.0``, ``True``, ``'1'``, ``-1`` and ``-2`` all print
differently; strings are quoted and escaped, so no string can forge structure).  What it does
not do is made explicit by :func:`canon`:

- a frozenset prints in hash order, which equal sets need not share: it becomes a *list* of
  its elements' canonical forms, sorted by their text (a list prints ``[...]``, so it can
  never be confused with a tuple);
- a dataclass or NamedTuple prints its fields but a NamedTuple prints like a tuple: both
  become a one-entry *dict* ``{type name: field values}`` (dicts appear nowhere else);
- any other type is refused, so a new kind of field can never be encoded ambiguously.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

_ATOMS = (int, float, str, bool, bytes, type(None))
_FIELDS: dict[type, tuple[str, ...]] = {}


def canon(x: Any) -> Any:
    """The canonical form of ``x``: equal only for values of the same types and contents,
    and with equal ``repr`` exactly then."""
    t = type(x)
    if t in _ATOMS:
        return x
    if t is tuple:
        for y in x:
            if type(y) not in _ATOMS:
                return tuple([canon(y) for y in x])
        return x  # a tuple of atoms is its own canonical form
    if t is frozenset or t is set:
        return sorted([canon(y) for y in x], key=repr)
    names = _FIELDS.get(t)
    if names is None:
        names = _fields(t)
    return {t.__qualname__: tuple([canon(getattr(x, n)) for n in names])}


def _fields(t: type) -> tuple[str, ...]:
    if dataclasses.is_dataclass(t):
        names = tuple(f.name for f in dataclasses.fields(t))
    elif issubclass(t, tuple) and hasattr(t, "_fields"):
        names = tuple(t._fields)
    else:
        raise TypeError(f"no canonical encoding for {t.__qualname__}")
    _FIELDS[t] = names
    return names


def encode(x: Any) -> bytes:
    """The canonical encoding of ``x`` (injective over the supported value classes)."""
    return repr(canon(x)).encode()


def digest(x: Any) -> bytes:
    """A 128-bit BLAKE2b digest of the canonical encoding of ``x``."""
    return hashlib.blake2b(repr(canon(x)).encode(), digest_size=16).digest()


def digest_canonical(form: Any) -> bytes:
    """:func:`digest` of a value already in canonical form (callers that build the form
    piecewise, caching parts, skip the second walk)."""
    return hashlib.blake2b(repr(form).encode(), digest_size=16).digest()

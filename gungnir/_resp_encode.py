"""Pure-Python RESP encoders: requests (pack_command/pack_commands) and replies (encode).

``pack_command``/``pack_commands`` are the twins of the compiled ones in ``_resp.pyx``
(same output, same errors); ``encode`` writes *replies* for servers and tests and has no
compiled twin, as it is never on a client's hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gungnir._resp_types import Push, ReplyError, SimpleString, Verbatim, VerbatimStr

__all__ = ["encode", "pack_command", "pack_commands"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _arg_bytes(arg: Any, args: Sequence[Any], command: int) -> bytes | bytearray | memoryview:
    if isinstance(arg, (bytes, bytearray)):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, memoryview):
        if not arg.c_contiguous:  # a strided view: its elements' bytes, in order
            return arg.tobytes()
        return arg if arg.format == "B" and arg.ndim == 1 else arg.cast("B")
    if isinstance(arg, int) and not isinstance(arg, bool):
        return str(int(arg)).encode()
    if isinstance(arg, float):
        return repr(float(arg)).encode()
    # The index is looked up only here, so converting many floats stays linear. The first
    # argument that is this very object failed the same way, so its index is the one.
    index = next(i for i, a in enumerate(args) if a is arg)
    raise TypeError(
        f"{_prefix(command)}argument {index} has type {type(arg).__name__}; "
        "expected bytes, bytearray, memoryview, str, int or float"
    )


def _pack_into(out: list[bytes], args: Sequence[Any], command: int) -> None:
    if not args:
        raise ValueError(f"{_prefix(command)}empty command")
    out.append(b"*%d\r\n" % len(args))
    for arg in args:
        kind = type(arg)
        if kind is bytes:
            data = arg
        elif kind is str:
            data = arg.encode()
        elif kind is int:
            data = b"%d" % arg
        else:  # subclasses, bytearray, memoryview, float, and the errors
            data = _arg_bytes(arg, args, command)
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))


def _prefix(command: int) -> str:
    return "" if command < 0 else f"command {command} "


def pack_command(*args: Any) -> bytes:
    """Encode one command as a RESP array of bulk strings.

    Arguments may be bytes, bytearray, memoryview, str (UTF-8), int or float (``repr``);
    anything else (bool included, to avoid ``True`` vs ``1`` surprises) is a ``TypeError``
    naming the argument's index.
    """
    out: list[bytes] = []
    _pack_into(out, args, -1)
    return b"".join(out)


def pack_commands(commands: Iterable[Sequence[Any]]) -> bytes:
    """Encode many commands (an iterable of argument sequences) into one buffer."""
    out: list[bytes] = []
    for j, args in enumerate(commands):
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"command {j} must be a tuple or list of arguments")
        _pack_into(out, args, j)
    return b"".join(out)


def _encode_into(out: list[bytes], value: Any, resp3: bool) -> None:
    data: Any
    if value is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif isinstance(value, SimpleString):
        data = value.encode()
        if b"\r" in data or b"\n" in data:
            raise ValueError("a simple string cannot contain CR or LF")
        out.append(b"+" + data + b"\r\n")
    elif isinstance(value, ReplyError):
        data = value.message.encode()
        if b"\r" in data or b"\n" in data:
            if resp3:
                out.append(b"!%d\r\n%s\r\n" % (len(data), data))
                return
            data = data.replace(b"\r", b" ").replace(b"\n", b" ")
        out.append(b"-" + data + b"\r\n")
    elif isinstance(value, bool):
        if resp3:
            out.append(b"#t\r\n" if value else b"#f\r\n")
        else:
            out.append(b":1\r\n" if value else b":0\r\n")
    elif isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            out.append(b":%d\r\n" % value)
        else:
            text = b"%d" % value
            out.append(b"(%s\r\n" % text if resp3 else b"$%d\r\n%s\r\n" % (len(text), text))
    elif isinstance(value, float):
        text = repr(value).encode()
        out.append(b",%s\r\n" % text if resp3 else b"$%d\r\n%s\r\n" % (len(text), text))
    elif isinstance(value, (Verbatim, VerbatimStr)):
        data = value.encode() if isinstance(value, str) else bytes(value)
        fmt = value.format.encode("latin-1")
        if len(fmt) != 3:
            raise ValueError("a verbatim format must be exactly 3 bytes")
        if resp3:
            out.append(b"=%d\r\n%s:%s\r\n" % (len(data) + 4, fmt, data))
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    elif isinstance(value, (bytes, bytearray, memoryview, str)):
        data = _arg_bytes(value, (value,), -1)  # bytes-like or str: never raises
        out.append(b"$%d\r\n" % len(data))
        out.append(bytes(data))
        out.append(b"\r\n")
    elif isinstance(value, Push):
        out.append((b">%d\r\n" if resp3 else b"*%d\r\n") % len(value))
        for item in value:
            _encode_into(out, item, resp3)
    elif isinstance(value, (list, tuple)):
        out.append(b"*%d\r\n" % len(value))
        for item in value:
            _encode_into(out, item, resp3)
    elif isinstance(value, dict):
        out.append(b"%%%d\r\n" % len(value) if resp3 else b"*%d\r\n" % (2 * len(value)))
        for key, item in value.items():
            _encode_into(out, key, resp3)
            _encode_into(out, item, resp3)
    elif isinstance(value, (set, frozenset)):
        out.append((b"~%d\r\n" if resp3 else b"*%d\r\n") % len(value))
        for item in value:
            _encode_into(out, item, resp3)
    else:
        raise TypeError(f"cannot encode a value of type {type(value).__name__} as RESP")


def encode(value: Any, *, protocol: int = 3) -> bytes:
    """Encode a *reply* (server side), as Valkey would send it.

    ``None``, bool, int (big numbers beyond 64 bits), float, bytes-like, str (bulk), list,
    tuple, dict, set/frozenset, :class:`Push`, :class:`Verbatim`/:class:`VerbatimStr`,
    :class:`ReplyError` instances and :class:`SimpleString` (``+OK``). With ``protocol=2``
    RESP3-only types are downgraded the way Valkey does for a RESP2 client: map -> flat
    array, set and push -> array, null -> ``$-1``, bool -> ``:1``/``:0``, double, big number
    and verbatim -> bulk string, blob error -> simple error with CR/LF replaced by spaces.
    """
    if protocol not in (2, 3):
        raise ValueError("protocol must be 2 or 3")
    out: list[bytes] = []
    _encode_into(out, value, protocol == 3)
    return b"".join(out)

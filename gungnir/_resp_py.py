"""The pure-Python RESP2/RESP3 reader and encoders: the reference twin of ``_resp.pyx``.

This module is the oracle: the Cython reader must return the same values and raise the
same errors (message and offset) on every byte string. It is also the fallback when the
extension is not built, so it is written for speed within pure Python: one ``find`` per
line, no re-parsing of completed elements, and an explicit stack instead of recursion.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gungnir._resp_types import (
    NEED_DATA,
    ProtocolError,
    Push,
    Verbatim,
    VerbatimStr,
    error_from_message,
    freeze,
)

__all__ = ["PyReader"]

# Frame kinds of the parse stack.
_ARRAY, _SET, _MAP, _PUSH, _ATTR, _STREAM = range(6)
_NOKEY: Any = object()  # "no map key pending" (None is a valid key)
_OK = b"OK"

#: Longest line allowed for types whose line is a number or a fixed token. Anything longer
#: is garbage; failing early stops a peer from making us buffer an endless header.
SHORT_LINE_MAX = 64
_SHORT_LINE_TYPES = frozenset(b"$*%~>|!=;:#_.")
_VALID_TYPES = frozenset(b"+-:$*%~>|!=;#_.,(")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DOUBLE_RE = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DOUBLE_WORDS = frozenset([b"inf", b"+inf", b"-inf", b"nan", b"+nan", b"-nan"])
_AGGREGATE_KINDS = {42: _ARRAY, 126: _SET, 37: _MAP, 62: _PUSH, 124: _ATTR}
_STREAMABLE = frozenset([42, 126, 37])
_FILLABLE = frozenset(b"$:+#_,*%~=(")
_FILL_KINDS = {42: _ARRAY, 37: _MAP, 126: _SET}

DEFAULT_MAX_DEPTH = 1024
DEFAULT_MAX_BULK_LEN = 512 * 1024 * 1024
DEFAULT_MAX_ELEMENTS = 2**32
BIG_BULK = 1024 * 1024  # bodies this large are collected in a chunk list, not the buffer


def _is_int(line: bytes | bytearray) -> bool:
    return line.isdigit() or (line[:1] == b"-" and line[1:].isdigit())


class PyReader:
    """Incremental RESP2/RESP3 reader (sans-IO): ``feed()`` bytes, ``gets()`` replies.

    ``gets()`` returns one complete reply or :data:`NEED_DATA`. Replies map to Python as:
    simple/bulk strings -> ``bytes`` (``str`` with ``encoding``), integers and big numbers ->
    ``int``, doubles -> ``float``, booleans -> ``bool``, null / ``$-1`` / ``*-1`` -> ``None``,
    arrays -> ``list``, maps -> ``dict``, sets -> ``set``, push -> :class:`Push`, verbatim ->
    :class:`Verbatim` / :class:`VerbatimStr`, errors -> a :class:`ReplyError` instance
    (returned, not raised). Streamed strings and aggregates arrive as the plain types.

    Map keys and set members that Python cannot hash (arrays, maps, sets) are converted with
    :func:`freeze` (list -> tuple, map -> tuple of pairs, set -> frozenset).

    Attributes (``|``) never appear as replies. ``attributes`` is the attribute map that
    preceded the reply last returned by ``gets()`` (``None`` when it had none); attribute
    maps inside aggregates are validated and dropped, since the caller has no reply object
    to hang them on.

    With ``push_handler`` set, top-level push frames are passed to it (in stream order)
    and ``gets()`` goes on to the next reply, so pushes never complete a pending request.

    A string that does not decode with ``encoding`` does not desynchronise the stream: the
    whole reply is consumed and the ``UnicodeDecodeError`` raised from ``gets()``; the
    reader stays usable. Error replies are always decoded as UTF-8 with replacement.

    Framing errors and broken limits raise :class:`ProtocolError` with the byte offset and
    poison the reader until ``reset()``.
    """

    __slots__ = (
        "_attrs",
        "_base",
        "_big",
        "_big_have",
        "_buf",
        "_bulk_at",
        "_bulk_len",
        "_bulk_type",
        "_decode_error",
        "_encoding",
        "_errors",
        "_max_bulk_len",
        "_max_depth",
        "_max_elements",
        "_poison",
        "_pos",
        "_push_handler",
        "_scan",
        "_stack",
        "attributes",
    )

    def __init__(
        self,
        *,
        encoding: str | None = None,
        errors: str = "strict",
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_bulk_len: int = DEFAULT_MAX_BULK_LEN,
        max_elements: int = DEFAULT_MAX_ELEMENTS,
        push_handler: Callable[[Push], object] | None = None,
    ) -> None:
        if encoding is not None:
            "".encode(encoding, errors)  # fail now, not at the first reply: LookupError
        if max_depth < 1 or max_bulk_len < 0 or max_elements < 0:
            raise ValueError("max_depth must be >= 1 and the other limits >= 0")
        if push_handler is not None and not callable(push_handler):
            raise TypeError("push_handler must be callable")
        self._encoding = encoding
        self._errors = errors
        self._max_depth = max_depth
        self._max_bulk_len = max_bulk_len
        self._max_elements = max_elements
        self._push_handler = push_handler
        self._buf = bytearray()
        self._pos = 0
        self._base = 0
        self._scan = 0
        self.reset()

    # -- public API -------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview, offset: int = 0, length: int = -1) -> None:
        """Append ``data[offset:offset+length]`` (``length=-1``: to the end) to the buffer."""
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        size = len(view)
        if offset < 0 or offset > size:
            raise ValueError(f"offset {offset} out of range for {size} bytes")
        if length < 0:
            if length != -1:
                raise ValueError("length must be >= 0, or -1 for the rest")
            length = size - offset
        elif offset + length > size:
            raise ValueError(f"offset + length ({offset} + {length}) exceeds {size} bytes")
        buf = self._buf
        pos = self._pos
        if self._big is not None and self._big_have < self._bulk_len and length:
            # A big bulk's body goes straight to its chunk list (joined once at the end).
            if pos == len(buf):
                self._buf = buf = bytearray()
                self._base += pos
                self._scan = 0
                self._pos = pos = 0
            take = min(self._bulk_len - self._big_have, length)
            self._big.append(bytes(view[offset : offset + take]))
            self._big_have += take
            self._base += take
            offset += take
            length -= take
        if pos and pos == len(buf):  # all consumed: start afresh, releasing a big buffer
            self._buf = buf = bytearray()
            self._base += pos
            self._scan = 0
            self._pos = 0
        elif pos:  # drop consumed bytes; a bytearray drops a prefix in O(1)
            del buf[:pos]
            self._base += pos
            self._scan = max(self._scan - pos, 0)
            self._pos = 0
        buf += view[offset : offset + length]

    def has_data(self) -> bool:
        """True when fed bytes are waiting to be parsed."""
        return len(self._buf) > self._pos or self._big_have > 0

    def buffered(self) -> int:
        """Number of fed bytes not yet parsed (a big bulk's body counts until returned)."""
        return len(self._buf) - self._pos + self._big_have

    def reset(self) -> None:
        """Forget all buffered data and partial state, and clear a poisoned state."""
        self._buf.clear()
        self._pos = 0
        self._base = 0
        self._scan = 0
        self._stack: list[list[Any]] = []
        self._bulk_len = -1
        self._bulk_type = 0
        self._bulk_at = 0
        self._big: list[bytes] | None = None
        self._big_have = 0
        self._attrs: dict[Any, Any] | None = None
        self._poison: ProtocolError | None = None
        self._decode_error: UnicodeDecodeError | None = None
        self.attributes: dict[Any, Any] | None = None

    def gets(self) -> Any:
        """Return the next complete reply, or :data:`NEED_DATA`."""
        if self._poison is not None:
            raise self._poison
        buf = self._buf
        pos = self._pos
        if (
            pos < len(buf)
            and not self._stack
            and self._bulk_len < 0
            and self._attrs is None
            and self._encoding is None
            and self._scan <= pos
        ):
            # A top-level plain $ / : / + reply needs none of the machinery of _parse.
            t = buf[pos]
            if t == 36 or t == 58 or t == 43:
                eol = buf.find(b"\r\n", pos + 1)
                if eol > 0:
                    head = buf[pos + 1 : eol]
                    if t == 43:
                        if eol - pos - 1 <= self._max_bulk_len:
                            self._pos = eol + 2
                            self.attributes = None
                            return _OK if head == b"OK" else bytes(head)
                    elif eol - pos <= 19 and head.isdigit():
                        value = int(head)
                        if t == 58:
                            self._pos = eol + 2
                            self.attributes = None
                            return value
                        end = eol + 2 + value
                        if (
                            value <= self._max_bulk_len
                            and end + 2 <= len(buf)
                            and buf[end] == 13
                            and buf[end + 1] == 10
                        ):
                            self._pos = end + 2
                            self.attributes = None
                            return bytes(buf[eol + 2 : end])
        try:
            return self._parse()
        except ProtocolError as exc:
            self._poison = exc
            raise

    # -- internals --------------------------------------------------------------------

    def _fail(self, message: str, pos: int) -> ProtocolError:
        return ProtocolError(message, self._base + pos)

    def _text(self, raw: bytes | bytearray) -> Any:
        try:
            return raw.decode(self._encoding, self._errors)  # type: ignore[arg-type]
        except UnicodeDecodeError as exc:
            if self._decode_error is None:
                self._decode_error = exc
            return bytes(raw)

    def _fill(self, frame: list[Any], buf: bytearray, pos: int, n: int) -> int:
        """Parse the common case of an open aggregate's elements without the general loop.

        Takes plain ``$ : + # _ , = (`` scalars and nested sized ``* % ~`` aggregates, closing
        nested ones as they complete, so a typical nested reply is built in one call.
        Anything else -- other types, unusual spellings, incomplete elements, and every
        error -- is left to the general loop, which resumes exactly here. On return the
        top frame may have no elements left; the caller then closes it.
        """
        if self._scan > pos:
            return pos
        stack = self._stack
        find = buf.find
        max_bulk = self._max_bulk_len
        encoding = self._encoding
        kind, container, remaining, key = frame[0], frame[1], frame[2], frame[3]
        add = (
            container.append
            if kind == _ARRAY or kind == _PUSH
            else container.add
            if kind == _SET
            else None
        )
        while True:
            if remaining == 0:
                # Close the finished aggregate into its (sized, non-attribute) parent.
                if len(stack) < 2 or kind == _ATTR or stack[-2][2] <= 0:
                    break
                stack.pop()
                value = container
                frame = stack[-1]
                kind, container, remaining, key = frame[0], frame[1], frame[2], frame[3]
                add = (
                    container.append
                    if kind == _ARRAY or kind == _PUSH
                    else container.add
                    if kind == _SET
                    else None
                )
            else:
                if pos >= n:
                    break
                t = buf[pos]
                if t == 36 or t == 61:  # $len or =len, with the whole body
                    eol = find(b"\r\n", pos + 1, pos + 21)
                    if eol < 0:
                        break
                    head = buf[pos + 1 : eol]
                    if not head.isdigit():
                        break
                    blen = int(head)
                    start = eol + 2
                    end = start + blen
                    if blen > max_bulk or end + 2 > n or buf[end] != 13 or buf[end + 1] != 10:
                        break
                    if t == 36:
                        raw = buf[start:end]
                        value = bytes(raw) if encoding is None else self._text(raw)
                    elif blen < 4 or buf[start + 3] != 58:  # = without "fmt:"
                        break
                    else:
                        fmt = buf[start : start + 3].decode("latin-1")
                        raw = buf[start + 4 : end]
                        text = bytes(raw) if encoding is None else self._text(raw)
                        value = (
                            VerbatimStr(text, fmt) if isinstance(text, str) else Verbatim(text, fmt)
                        )
                    pos = end + 2
                elif t == 40:  # (digits of at most 640: within every int() digit limit
                    eol = find(b"\r\n", pos + 1, pos + 643)
                    if eol < 0 or eol - pos - 1 > max_bulk:
                        break
                    head = buf[pos + 1 : eol]
                    if not (head.isdigit() or (head[:1] == b"-" and head[1:].isdigit())):
                        break
                    value = int(head)
                    pos = eol + 2
                elif t == 58:  # :
                    eol = find(b"\r\n", pos + 1, pos + 22)
                    if eol < 0:
                        break
                    head = buf[pos + 1 : eol]
                    if not head.isdigit() or eol - pos > 19:
                        if not (head[:1] == b"-" and head[1:].isdigit() and eol - pos <= 20):
                            break
                    value = int(head)
                    pos = eol + 2
                elif t == 43:  # +
                    eol = find(b"\r\n", pos + 1)
                    if eol < 0 or eol - pos - 1 > max_bulk:
                        break
                    raw = buf[pos + 1 : eol]
                    value = bytes(raw) if encoding is None else self._text(raw)
                    pos = eol + 2
                elif t == 35:  # #t / #f
                    if buf[pos + 2 : pos + 4] != b"\r\n":
                        break
                    flag = buf[pos + 1]
                    if flag == 116:
                        value = True
                    elif flag == 102:
                        value = False
                    else:
                        break
                    pos += 4
                elif t == 95:  # _
                    if buf[pos + 1 : pos + 3] != b"\r\n":
                        break
                    value = None
                    pos += 3
                elif t == 44:  # ,
                    eol = find(b"\r\n", pos + 1, pos + 66)
                    if eol < 0 or eol - pos - 1 > max_bulk:
                        break
                    raw = buf[pos + 1 : eol]
                    plain = raw[1:] if raw[:1] == b"-" else raw
                    if not plain.replace(b".", b"", 1).isdigit():  # not a plain decimal
                        break
                    value = float(raw)
                    pos = eol + 2
                elif t in _FILL_KINDS:  # a nested sized aggregate: descend into it
                    eol = find(b"\r\n", pos + 1, pos + 12)
                    if eol < 0:
                        break
                    head = buf[pos + 1 : eol]
                    if not head.isdigit():
                        break
                    count = int(head)
                    if count == 0 or count > self._max_elements or len(stack) >= self._max_depth:
                        break
                    frame[2] = remaining
                    frame[3] = key
                    kind = _FILL_KINDS[t]
                    if kind == _MAP:
                        container, remaining, add = {}, 2 * count, None
                    elif kind == _SET:
                        container = set()
                        remaining, add = count, container.add
                    else:
                        container = []
                        remaining, add = count, container.append
                    key = _NOKEY
                    frame = [kind, container, remaining, key, self._base + pos]
                    stack.append(frame)
                    pos = eol + 2
                    continue
                else:
                    break
            # add value to the current aggregate
            remaining -= 1
            if add is not None:
                try:
                    add(value)
                except TypeError:  # an unhashable set member (a nested aggregate)
                    add(freeze(value))
            elif key is _NOKEY:
                key = value
            else:
                try:
                    container[key] = value
                except TypeError:  # an unhashable key (a nested aggregate)
                    container[freeze(key)] = value
                key = _NOKEY
        frame[2] = remaining
        frame[3] = key
        return pos

    def _parse(self) -> Any:
        buf = self._buf
        pos = self._pos
        n = len(buf)
        stack = self._stack
        encoding = self._encoding
        while True:
            # ---- 1. read one element: a value, or a frame opened/closed ----
            closed = None
            if stack and pos < n and buf[pos] in _FILLABLE and self._bulk_len < 0:
                frame = stack[-1]
                if frame[2] > 0 and frame[0] != _STREAM:
                    pos = self._fill(frame, buf, pos, n)
                    frame = stack[-1]
                    if frame[2] == 0:  # the run of elements completed the aggregate
                        stack.pop()
                        if frame[0] == _ATTR:
                            if not stack:
                                if self._attrs is None:
                                    self._attrs = frame[1]
                                else:
                                    self._attrs.update(frame[1])
                            continue
                        closed = frame
            if closed is not None:
                value = closed[1]
            elif self._big is not None:
                blen = self._bulk_len
                if self._big_have < blen or n - pos < 2:
                    self._pos = pos
                    return NEED_DATA
                if buf[pos] != 13 or buf[pos + 1] != 10:
                    raise self._fail("bulk data not followed by CRLF", pos)
                pos += 2
                joined = b"".join(self._big)
                self._big = None
                self._big_have = 0
                self._bulk_len = -1
                value = joined if encoding is None else self._text(joined)
            elif self._bulk_len >= 0:
                blen = self._bulk_len
                end = pos + blen
                if n < end + 2:
                    if self._bulk_type == 36 and blen >= BIG_BULK and n - pos < blen:
                        # Keep the body out of the buffer from now on: see feed().
                        self._big = [bytes(buf[pos:n])]
                        self._big_have = n - pos
                        pos = n
                    self._pos = pos
                    return NEED_DATA
                if buf[end] != 13 or buf[end + 1] != 10:
                    raise self._fail("bulk data not followed by CRLF", end)
                btype = self._bulk_type
                self._bulk_len = -1
                raw: bytes | bytearray = buf[pos:end]
                pos = end + 2
                if btype == 36:  # $
                    value = bytes(raw) if encoding is None else self._text(raw)
                elif btype == 59:  # ; chunk of a streamed string
                    frame = stack[-1]
                    frame[2] += blen
                    if frame[2] > self._max_bulk_len:
                        raise ProtocolError("streamed string exceeds max_bulk_len", self._bulk_at)
                    frame[1].append(bytes(raw))
                    continue
                elif btype == 33:  # !
                    value = error_from_message(raw.decode("utf-8", "replace"))
                else:  # = verbatim
                    if raw[3] != 58:
                        raise self._fail("verbatim string lacks its 'fmt:' prefix", end - blen)
                    fmt = raw[:3].decode("latin-1")
                    if encoding is None:
                        value = Verbatim(bytes(raw[4:]), fmt)
                    else:
                        text = self._text(raw[4:])
                        value = (
                            VerbatimStr(text, fmt) if isinstance(text, str) else Verbatim(text, fmt)
                        )
            else:
                if pos >= n:
                    self._pos = pos
                    return NEED_DATA
                t = buf[pos]
                if t not in _VALID_TYPES:
                    raise self._fail(f"invalid type byte 0x{t:02x}", pos)
                if stack and stack[-1][0] == _STREAM and t != 59:
                    raise self._fail("expected a ';' chunk inside a streamed string", pos)
                scan = self._scan
                eol = buf.find(b"\r\n", scan if scan > pos else pos + 1)
                limit = SHORT_LINE_MAX if t in _SHORT_LINE_TYPES else self._max_bulk_len
                if eol < 0:
                    if n - pos - 2 > limit:
                        raise self._fail("line too long", pos)
                    self._scan = n - 1
                    self._pos = pos
                    return NEED_DATA
                if eol - pos - 1 > limit:
                    raise self._fail("line too long", pos)
                self._scan = 0
                start = pos
                line = buf[pos + 1 : eol]
                pos = eol + 2
                if t == 43:  # +
                    value = bytes(line) if encoding is None else self._text(line)
                elif t == 58:  # :
                    if not _is_int(line):
                        raise self._fail("invalid integer", start)
                    value = int(line)
                    if value < _INT64_MIN or value > _INT64_MAX:
                        raise self._fail("integer out of 64-bit range", start)
                elif t == 36 or t == 33 or t == 61 or t == 59:  # $ ! = ;
                    if t == 36 and line == b"?":
                        if len(stack) >= self._max_depth:
                            raise self._fail("nesting deeper than max_depth", start)
                        stack.append([_STREAM, [], 0, None, self._base + start])
                        continue
                    if not _is_int(line):
                        raise self._fail("invalid length", start)
                    blen = int(line)
                    if line[0] == 45:  # only $-1 (RESP2 null); "-0" is no length either
                        if blen == -1 and t == 36:
                            value = None
                        else:
                            raise self._fail("invalid length", start)
                    elif blen > self._max_bulk_len:
                        raise self._fail("length exceeds max_bulk_len", start)
                    elif t == 59:
                        if not stack or stack[-1][0] != _STREAM:
                            raise self._fail("';' chunk outside a streamed string", start)
                        if blen == 0:
                            chunks = stack.pop()[1]
                            raw = b"".join(chunks)
                            value = raw if encoding is None else self._text(raw)
                        else:
                            self._bulk_len = blen
                            self._bulk_type = t
                            self._bulk_at = self._base + start
                            continue
                    else:
                        if t == 61 and blen < 4:
                            raise self._fail("verbatim string shorter than 'fmt:'", start)
                        self._bulk_len = blen
                        self._bulk_type = t
                        self._bulk_at = self._base + start
                        continue
                elif t in _AGGREGATE_KINDS:  # * ~ % > |
                    kind = _AGGREGATE_KINDS[t]
                    if line == b"?" and t in _STREAMABLE:
                        count = -1
                    elif _is_int(line):
                        count = int(line)
                        if line[0] == 45:  # only *-1 (RESP2 null array); not "-0"
                            if count == -1 and t == 42:
                                count = -2  # RESP2 null array
                            else:
                                raise self._fail("invalid aggregate length", start)
                        elif count > self._max_elements:
                            raise self._fail("aggregate length exceeds max_elements", start)
                    else:
                        raise self._fail("invalid aggregate length", start)
                    if count == -2:
                        value = None
                    else:
                        if len(stack) >= self._max_depth:
                            raise self._fail("nesting deeper than max_depth", start)
                        if kind == _MAP or kind == _ATTR:
                            container: Any = {}
                            if count > 0:
                                count *= 2
                        elif kind == _SET:
                            container = set()
                        elif kind == _PUSH:
                            container = Push()
                        else:
                            container = []
                        if count != 0:
                            stack.append([kind, container, count, _NOKEY, self._base + start])
                            continue
                        if kind == _ATTR:
                            if not stack:
                                self._attrs = self._attrs or {}
                            continue
                        value = container
                elif t == 95:  # _
                    if line:
                        raise self._fail("invalid null", start)
                    value = None
                elif t == 35:  # #
                    if line == b"t":
                        value = True
                    elif line == b"f":
                        value = False
                    else:
                        raise self._fail("invalid boolean", start)
                elif t == 44:  # ,
                    if _DOUBLE_RE.fullmatch(line) is None and bytes(line).lower() not in (
                        _DOUBLE_WORDS
                    ):
                        raise self._fail("invalid double", start)
                    value = float(line)
                elif t == 40:  # (
                    if not _is_int(line):
                        raise self._fail("invalid big number", start)
                    try:
                        value = int(line)
                    except ValueError:  # longer than sys.get_int_max_str_digits()
                        raise self._fail("big number too long", start) from None
                elif t == 45:  # -
                    value = error_from_message(line.decode("utf-8", "replace"))
                elif t == 46:  # .
                    if line or not stack or stack[-1][2] >= 0:
                        raise self._fail("unexpected end marker", start)
                    frame = stack.pop()
                    if frame[3] is not _NOKEY:
                        raise self._fail("streamed map ended after a key", start)
                    value = frame[1]
                else:  # pragma: no cover - _VALID_TYPES was checked above
                    raise AssertionError(t)

            # ---- 2. hand the value to its parent, closing every frame it completes ----
            while True:
                if not stack:
                    if self._decode_error is not None:
                        exc, self._decode_error = self._decode_error, None
                        self._attrs = None
                        self._pos = pos
                        raise exc
                    attrs = self._attrs
                    self._attrs = None
                    if self._push_handler is not None and type(value) is Push:
                        self._pos = pos
                        self._push_handler(value)
                        buf = self._buf  # the handler may have fed more data
                        pos = self._pos
                        n = len(buf)
                        break
                    self.attributes = attrs
                    self._pos = pos
                    return value
                frame = stack[-1]
                kind = frame[0]
                container = frame[1]
                if kind == _ARRAY or kind == _PUSH:
                    container.append(value)
                elif kind == _MAP or kind == _ATTR:
                    key = frame[3]
                    if key is _NOKEY:
                        frame[3] = value
                    else:
                        frame[3] = _NOKEY
                        try:
                            container[key] = value
                        except TypeError:
                            container[freeze(key)] = value
                else:
                    try:
                        container.add(value)
                    except TypeError:
                        container.add(freeze(value))
                frame[2] -= 1
                if frame[2] != 0:
                    if frame[2] < 0 and -frame[2] - 1 > self._max_elements * (
                        2 if kind == _MAP else 1
                    ):
                        raise ProtocolError("streamed aggregate exceeds max_elements", frame[4])
                    break
                stack.pop()
                if kind == _ATTR:
                    if not stack:
                        if self._attrs is None:
                            self._attrs = container
                        else:
                            self._attrs.update(container)
                    break
                value = container

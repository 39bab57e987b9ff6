"""Request framing for our RESP server: the bytes a client sends, cut into commands.

Why not the reply :class:`~gungnir.resp.Reader`: a request is narrower than a reply. Valkey
accepts only an array of bulk strings (``*<n>`` then ``$<len>`` parts) or an inline line, and
clients (and their tests) rely on its exact refusals: ``*1\\r\\n+foo\\r\\n`` is a protocol error,
not a command; ``*2147483648`` is refused at once, not waited on; the error texts are the
ones Valkey's ``networking.c`` answers ("invalid multibulk length", "expected '$', got '+'",
"invalid bulk length", "invalid CRLF in request"). The rules below were checked byte for byte
against ``valkey-server --sentinel`` 9.1.2 (see ``tests/runtime/test_resp_request.py``).

Sans-IO like the rest of the codec: :meth:`RequestParser.feed` takes bytes,
:meth:`RequestParser.gets` hands out one command (a ``list[bytes]``), ``None`` when it needs
more bytes, or raises :class:`RequestError`. After an error the parser is poisoned: nothing
later in the stream can be trusted.
"""

from __future__ import annotations

__all__ = ["MAX_INLINE", "RequestError", "RequestParser"]

#: Valkey's PROTO_INLINE_MAX_SIZE: the longest inline line, and the longest ``*``/``$``
#: header line that may stay unterminated.
MAX_INLINE = 64 * 1024
#: Valkey refuses a multibulk count above INT_MAX at once.
_MAX_COUNT = 2**31 - 1
_DIGITS = frozenset(b"0123456789")


class RequestError(Exception):
    """A framing error; ``message`` is Valkey's text after ``Protocol error: ``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _parse_int(text: bytes) -> int | None:
    """Valkey's string2ll: an optional ``-``, digits, no leading zero, no ``+`` or spaces."""
    digits = text[1:] if text[:1] == b"-" else text
    if not digits or len(digits) > 19 or not _DIGITS.issuperset(digits):
        return None
    if len(digits) > 1 and digits[:1] == b"0":
        return None
    return int(text)


class RequestParser:
    """Cuts a byte stream into commands the way Valkey's request parser does.

    ``max_bulk`` bounds one argument (Valkey's proto-max-bulk-len); the caller bounds a whole
    request with :meth:`partial_bytes`, the bytes of the request still being assembled.
    """

    def __init__(self, max_bulk: int) -> None:
        self.max_bulk = max_bulk
        self._buf = bytearray()
        self._pos = 0  # first byte not consumed yet
        self._start = 0  # where the request being assembled began
        self._count = 0  # arguments still to read of the current multibulk; 0 = none open
        self._args: list[bytes] = []
        self._error: RequestError | None = None

    def feed(self, data: bytes) -> None:
        self._buf += data

    def partial_bytes(self) -> int:
        """Bytes received since the last complete command."""
        return len(self._buf) - self._start

    def gets(self) -> list[bytes] | None:
        """The next command, or ``None`` until more bytes arrive; raises RequestError."""
        if self._error is not None:
            raise self._error
        try:
            command = self._next()
        except RequestError as exc:
            self._error = exc
            self._buf = bytearray()
            self._pos = self._start = 0
            raise
        if command is not None or self._pos == len(self._buf):
            self._compact()
        return command

    def _compact(self) -> None:
        if self._start:
            del self._buf[: self._start]
            self._pos -= self._start
            self._start = 0

    def _next(self) -> list[bytes] | None:
        while True:
            if not self._count:
                if self._pos >= len(self._buf):
                    return None
                if self._buf[self._pos] != ord("*"):
                    words = self._inline()
                    if words is None:
                        return None
                    if words:
                        return words
                    continue
                count = self._header(b"*", "invalid multibulk length", "too big mbulk count")
                if count is None:
                    return None
                if count <= 0:  # Valkey skips an empty or negative multibulk
                    self._start = self._pos
                    continue
                self._count = count
            if not self._read_bulks():
                return None
            args, self._args = self._args, []
            self._start = self._pos
            return args

    def _inline(self) -> list[bytes] | None:
        """One inline line split on whitespace (``[]`` for a blank line), or None."""
        end = self._buf.find(b"\n", self._pos)
        if end < 0:
            if len(self._buf) - self._pos > MAX_INLINE:
                raise RequestError("too big inline request")
            return None
        line = bytes(self._buf[self._pos : end]).rstrip(b"\r")
        self._pos = self._start = end + 1
        return line.split()

    def _header(self, kind: bytes, invalid: str, too_big: str) -> int | None:
        """Parse ``<kind><number>\\r\\n`` at the cursor; None until its line is complete."""
        end = self._buf.find(b"\r", self._pos)
        if end < 0 or end + 1 >= len(self._buf):
            if len(self._buf) - self._pos > MAX_INLINE:
                raise RequestError(f"{too_big} string")
            return None
        value = _parse_int(bytes(self._buf[self._pos + len(kind) : end]))
        if value is None or value > _MAX_COUNT:
            raise RequestError(invalid)
        self._pos = end + 2
        return value

    def _read_bulks(self) -> bool:
        """Read the open multibulk's arguments; True once all of them are in."""
        buf = self._buf
        while self._count:
            if self._pos >= len(buf):
                return False
            if buf[self._pos] != ord("$"):
                raise RequestError(f"expected '$', got '{chr(buf[self._pos])}'")
            mark = self._pos
            size = self._header(b"$", "invalid bulk length", "too big bulk count")
            if size is None:
                return False
            if size < 0 or size > self.max_bulk:
                raise RequestError("invalid bulk length")
            if len(buf) - self._pos < size + 2:
                self._pos = mark  # read the header again once the data is here
                return False
            end = self._pos + size
            if buf[end : end + 2] != b"\r\n":
                raise RequestError("invalid CRLF in request")
            self._args.append(bytes(buf[self._pos : end]))
            self._pos = end + 2
            self._count -= 1
        return True

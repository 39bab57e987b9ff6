"""Reply types and errors shared by both RESP readers (the Cython one and the pure twin).

They live in their own small module so that the extension can import them without a
circular import through :mod:`gungnir.resp`, and so that the two readers can never drift
apart on what a reply *is*. Users should import everything from :mod:`gungnir.resp`.
"""

from __future__ import annotations

import os
from typing import Any, Final

__all__ = [
    "ERROR_CLASSES",
    "NEED_DATA",
    "AskError",
    "BusyError",
    "ClusterDownError",
    "CrossSlotError",
    "ExecAbortError",
    "LoadingError",
    "MasterDownError",
    "MisconfError",
    "MovedError",
    "NeedData",
    "NoAuthError",
    "NoPermError",
    "NoProtoError",
    "NoReplicasError",
    "NoScriptError",
    "OutOfMemoryError",
    "ProtocolError",
    "Push",
    "ReadOnlyError",
    "RedirectError",
    "ReplyError",
    "RespError",
    "SimpleString",
    "TryAgainError",
    "Verbatim",
    "VerbatimStr",
    "WrongPassError",
    "WrongTypeError",
    "error_from_message",
    "freeze",
]


class NeedData:
    """Type of :data:`NEED_DATA`; there is exactly one instance.

    A sentinel rather than ``None``/``False`` because RESP3 null and boolean false are real
    replies.
    """

    _instance: NeedData | None = None

    def __new__(cls) -> NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"

    def __bool__(self) -> bool:
        # Falsy so ``while (r := reader.gets()) is not NEED_DATA`` and ``if not r`` both read
        # naturally; identity is still the only correct test.
        return False

    def __reduce__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


class RespError(Exception):
    """Base of every error this codec produces (protocol errors and server reply errors)."""


class ProtocolError(RespError):
    """The byte stream is not valid RESP (or breaks a configured limit).

    Raised by ``Reader.gets()``. ``offset`` is the position, counted in bytes from the
    first byte ever fed (or from the last ``reset()``), of the element that is wrong. The
    reader stays *poisoned*: every later ``gets()`` raises the same error until ``reset()``,
    because after a framing error nothing later in the stream can be trusted.
    """

    def __init__(self, message: str, offset: int = -1) -> None:
        super().__init__(message, offset)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        if self.offset >= 0:
            return f"{self.message} (at byte {self.offset})"
        return self.message

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProtocolError):
            return NotImplemented
        return (self.message, self.offset) == (other.message, other.offset)

    def __hash__(self) -> int:
        return hash((self.message, self.offset))


class ReplyError(RespError):
    """An error reply from the server (``-CODE message`` or a ``!`` blob error).

    Readers *return* these as values instead of raising them, so a pipeline keeps the
    position of every reply; the client raises them to the user. ``code`` is the leading
    upper-case word (``"ERR"``, ``"MOVED"``, ...) or ``""`` when the message has none, and
    ``message`` is the full text. The concrete class is chosen from :data:`ERROR_CLASSES` by
    the code. Two errors are equal when their class and text are equal, which makes
    replies comparable in tests and pipelines.
    """

    code: str
    message: str

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = _code_of(message) if code is None else code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReplyError):
            return NotImplemented
        return type(self) is type(other) and self.message == other.message

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.message))

    def __reduce__(self) -> tuple[Any, ...]:
        return (error_from_message, (self.message,))


class RedirectError(ReplyError):
    """MOVED or ASK: the key's slot lives elsewhere.

    ``slot``, ``host`` and ``port`` are parsed from ``"MOVED 3999 127.0.0.1:6381"``; an
    empty host (``"MOVED 3999 :6381"``) means "the host you are connected to", as Valkey
    documents. IPv6 hosts are split at the last colon.
    """

    slot: int
    host: str
    port: int

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message, code)
        parsed = _parse_redirect(message)
        if parsed is None:  # error_from_message never builds one from an unparsable text
            raise ValueError(f"not a redirect: {message!r}")
        self.slot, self.host, self.port = parsed


class MovedError(RedirectError):
    """The slot moved permanently; refresh the slot map and retry at ``host:port``."""


class AskError(RedirectError):
    """The slot is migrating; retry once at ``host:port`` preceded by ``ASKING``."""


class ReadOnlyError(ReplyError):
    """A write was sent to a replica (READONLY): the primary moved, e.g. after failover."""


class NoAuthError(ReplyError):
    """Authentication is required (NOAUTH)."""


class WrongPassError(ReplyError):
    """Invalid username/password (WRONGPASS)."""


class NoPermError(ReplyError):
    """The ACL user may not run this command or touch this key (NOPERM)."""


class LoadingError(ReplyError):
    """The server is loading its dataset (LOADING); retry later."""


class BusyError(ReplyError):
    """A script or function is running too long (BUSY)."""


class NoScriptError(ReplyError):
    """EVALSHA with an unknown script (NOSCRIPT); send the script body instead."""


class ExecAbortError(ReplyError):
    """EXEC discarded the transaction because a queued command failed (EXECABORT)."""


class WrongTypeError(ReplyError):
    """Operation against a key holding the wrong kind of value (WRONGTYPE)."""


class NoProtoError(ReplyError):
    """HELLO asked for a protocol version the server does not speak (NOPROTO)."""


class TryAgainError(ReplyError):
    """Multi-key command during resharding (TRYAGAIN); retry later."""


class CrossSlotError(ReplyError):
    """Keys of one command hash to different slots (CROSSSLOT)."""


class ClusterDownError(ReplyError):
    """The cluster cannot serve this slot now (CLUSTERDOWN)."""


class MasterDownError(ReplyError):
    """A replica lost its primary and replica-serve-stale-data is off (MASTERDOWN)."""


class NoReplicasError(ReplyError):
    """Not enough good replicas to accept writes (NOREPLICAS, min-replicas-to-write)."""


class MisconfError(ReplyError):
    """The server refuses writes because persistence failed (MISCONF)."""


class OutOfMemoryError(ReplyError):
    """maxmemory reached and the command may use more (OOM)."""


#: Error code -> class. Codes missing here give a plain :class:`ReplyError`. The client may
#: add entries; both readers consult this mapping on every error reply.
ERROR_CLASSES: dict[str, type[ReplyError]] = {
    "MOVED": MovedError,
    "ASK": AskError,
    "READONLY": ReadOnlyError,
    "NOAUTH": NoAuthError,
    "WRONGPASS": WrongPassError,
    "NOPERM": NoPermError,
    "LOADING": LoadingError,
    "BUSY": BusyError,
    "NOSCRIPT": NoScriptError,
    "EXECABORT": ExecAbortError,
    "WRONGTYPE": WrongTypeError,
    "NOPROTO": NoProtoError,
    "TRYAGAIN": TryAgainError,
    "CROSSSLOT": CrossSlotError,
    "CLUSTERDOWN": ClusterDownError,
    "MASTERDOWN": MasterDownError,
    "NOREPLICAS": NoReplicasError,
    "MISCONF": MisconfError,
    "OOM": OutOfMemoryError,
}


def _code_of(message: str) -> str:
    """The leading error code: the first word when it is upper-case letters/digits/_ ."""
    word = message.split(" ", 1)[0]
    if word and word.isascii() and word.replace("_", "A").isalnum() and word.upper() == word:
        if not word[0].isdigit():
            return word
    return ""


def _parse_redirect(message: str) -> tuple[int, str, int] | None:
    parts = message.split(" ")
    if len(parts) != 3:
        return None
    _, slot_text, address = parts
    host, sep, port_text = address.rpartition(":")
    if not sep or not slot_text.isdigit() or not port_text.isdigit():
        return None
    if not slot_text.isascii() or not port_text.isascii():
        return None
    slot, port = int(slot_text), int(port_text)
    if slot > 16383 or port > 65535:
        return None
    return slot, host, port


def error_from_message(message: str) -> ReplyError:
    """Build the right :class:`ReplyError` subclass for an error text.

    A MOVED/ASK text that does not parse becomes a plain :class:`ReplyError` (code still
    ``"MOVED"``/``"ASK"``) rather than a redirect with made-up fields.
    """
    code = _code_of(message)
    cls = ERROR_CLASSES.get(code, ReplyError) if code else ReplyError
    if issubclass(cls, RedirectError) and _parse_redirect(message) is None:
        cls = ReplyError
    return cls(message, code)


class Push(list[Any]):
    """An out-of-band push frame (RESP3 ``>``): pub/sub messages, invalidations, ...

    A distinct list subclass so a client can route it; when the reader has a
    ``push_handler`` it is handed there and never returned in place of a reply.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Push({list.__repr__(self)})"


class Verbatim(bytes):
    """A verbatim string (RESP3 ``=``) as bytes; ``format`` is its three-letter type.

    This pure class defines the behaviour; when the extension loads, ``Verbatim`` is
    rebound to its compiled twin (see the end of this module), which behaves the same
    and is built without an interpreted ``__new__`` and a per-instance dict.
    """

    format: str

    def __new__(cls, data: bytes, format: str = "txt") -> Verbatim:
        self = super().__new__(cls, data)
        self.format = format
        return self

    def __repr__(self) -> str:
        return f"Verbatim({bytes.__repr__(self)}, format={self.format!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Verbatim, (bytes(self), self.format))


class VerbatimStr(str):
    """A verbatim string decoded with the reader's encoding; ``format`` as in Verbatim.

    Note that ``format`` shadows ``str.format`` on instances (the attribute name is the
    one hiredis users expect); call ``str.format(value, ...)`` if you ever need the method.
    """

    format: str  # type: ignore[assignment]

    def __new__(cls, data: str, format: str = "txt") -> VerbatimStr:
        self = super().__new__(cls, data)
        self.format = format
        return self

    def __repr__(self) -> str:
        return f"VerbatimStr({str.__repr__(self)}, format={self.format!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (VerbatimStr, (str(self), self.format))


class SimpleString(str):
    """Marker for the encoder: send this text as a RESP simple string (``+OK``).

    Readers return simple strings as plain bytes/str, like bulk strings, because callers
    rarely care about the difference; servers need it to answer exactly like Valkey.
    """

    __slots__ = ()


def freeze(value: Any) -> Any:
    """Turn an unhashable reply into a hashable one so it can be a map key or set member.

    RESP3 allows any value as a map key; Python does not. Lists (and Push) become tuples,
    dicts become tuples of ``(key, value)`` pairs in wire order, sets become frozensets, all
    recursively. Both readers apply it only to keys/members that are not hashable as they
    are, so ordinary replies are untouched.
    """
    if isinstance(value, list):
        return tuple([freeze(v) for v in value])
    if isinstance(value, dict):
        return tuple([(freeze(k), freeze(v)) for k, v in value.items()])
    if isinstance(value, set):
        return frozenset([freeze(v) for v in value])
    return value


def _compiled_verbatim() -> Any:
    """The extension's Verbatim type, or None (not built, or GUNGNIR_PURE=1).

    Both readers must return one and the same type, so the pure twin builds the compiled
    one too. GUNGNIR_PURE=1 keeps every process that sets it off the shared object, as
    gungnir.resp does. When the extension is the module being imported (it imports this
    one) and has not made its type yet, the pure class stays: every reader made later
    sees which one won and builds that.
    """
    if os.environ.get("GUNGNIR_PURE", "") not in ("", "0"):
        return None
    try:
        from gungnir._resp import Verbatim as compiled
    except ImportError:
        return None
    return compiled


#: The pure class, whatever Verbatim became: the reference the compiled type is tested against.
PyVerbatim = Verbatim

_compiled = _compiled_verbatim()
if _compiled is not None:
    Verbatim = _compiled  # type: ignore[misc]

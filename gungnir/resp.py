"""RESP2/RESP3 codec: the public face.

``Reader`` is the fastest available implementation: the Cython extension
``gungnir._resp`` when it is built, else the pure-Python twin :class:`PyReader`. Set
``GUNGNIR_PURE=1`` in the environment to force the pure twin (``IMPLEMENTATION`` says which
one is active). Both have the same API, return the same values and raise the same errors
(the pure twin is the test oracle for the extension).

Typical use (sans-IO: the caller owns the socket)::

    reader = Reader(push_handler=on_push)
    reader.feed(sock.recv(65536))
    while (reply := reader.gets()) is not NEED_DATA:
        handle(reply)

See :class:`PyReader` for the mapping from RESP types to Python values, attributes, push
frames, decoding errors and limits; :func:`encode` writes replies (server side) and
:func:`pack_command` / :func:`pack_commands` write requests.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from gungnir._resp_encode import encode as py_encode
from gungnir._resp_encode import pack_command as py_pack_command
from gungnir._resp_encode import pack_commands as py_pack_commands
from gungnir._resp_py import PyReader
from gungnir._resp_types import (
    ERROR_CLASSES,
    NEED_DATA,
    AskError,
    BusyError,
    ClusterDownError,
    CrossSlotError,
    ExecAbortError,
    LoadingError,
    MasterDownError,
    MisconfError,
    MovedError,
    NeedData,
    NoAuthError,
    NoPermError,
    NoProtoError,
    NoReplicasError,
    NoScriptError,
    OutOfMemoryError,
    ProtocolError,
    Push,
    ReadOnlyError,
    RedirectError,
    ReplyError,
    RespError,
    SimpleString,
    TryAgainError,
    Verbatim,
    VerbatimStr,
    WrongPassError,
    WrongTypeError,
    error_from_message,
    freeze,
)

__all__ = [
    "ERROR_CLASSES",
    "IMPLEMENTATION",
    "NEED_DATA",
    "OK",
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
    "PyReader",
    "ReadOnlyError",
    "Reader",
    "RedirectError",
    "ReplyError",
    "RespError",
    "SimpleString",
    "TryAgainError",
    "Verbatim",
    "VerbatimStr",
    "WrongPassError",
    "WrongTypeError",
    "encode",
    "error_from_message",
    "freeze",
    "pack_command",
    "pack_commands",
    "py_encode",
    "py_pack_command",
    "py_pack_commands",
]

#: The ``+OK`` status reply, for servers: ``encode(OK) == b"+OK\r\n"``.
OK = SimpleString("OK")

IMPLEMENTATION: Literal["cython", "python"]

_ext: Any = None
if os.environ.get("GUNGNIR_PURE", "") in ("", "0"):
    try:
        from gungnir import _resp as _ext  # type: ignore[attr-defined,no-redef,unused-ignore]
    except ImportError:  # not built (no compiler, sdist without Cython): the pure twin
        _ext = None

Reader: type[PyReader]
if _ext is not None:
    Reader = _ext.Reader
    pack_command = _ext.pack_command
    pack_commands = _ext.pack_commands
    IMPLEMENTATION = "cython"
else:
    Reader = PyReader
    pack_command = py_pack_command
    pack_commands = py_pack_commands
    IMPLEMENTATION = "python"

# Replies are encoded by servers and tests, never on a client's hot path: one version.
encode = py_encode

"""The peer message codec: core messages <-> JSON, strictly checked on the way in.

JSON inside one RESP bulk string: readable in a packet capture, and the RESP framing (our
codec, both sides) already handles lengths and limits.  Decoding is strict, because a peer's
bytes are input: an unknown type, a missing or extra field, or a field of the wrong type is a
:class:`WireError`, never a half-built message handed to the core.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from gungnir.core import (
    Config,
    ConfigAnnounce,
    ConfigQuery,
    DownReport,
    FenceNotice,
    Message,
    VoteReply,
    VoteRequest,
)

__all__ = ["WireError", "decode", "encode"]

MAX_MESSAGE = 64 * 1024

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (DownReport, VoteRequest, VoteReply, ConfigAnnounce, ConfigQuery, FenceNotice)
}


class WireError(ValueError):
    """Bytes from a peer that are not a valid message."""


def _config_out(c: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"epoch": c.epoch, "primary": c.primary, "replicas": list(c.replicas)}
    if c.voters:  # the voter set a config commits (absent: the bootstrap set)
        out["voters"] = list(c.voters)
    return out


def encode(msg: Message) -> bytes:
    body: dict[str, Any] = {"type": type(msg).__name__}
    for f in dataclasses.fields(msg):
        value = getattr(msg, f.name)
        body[f.name] = _config_out(value) if isinstance(value, Config) else value
    return json.dumps(body, separators=(",", ":")).encode()


def _check(value: Any, kind: str, where: str) -> Any:
    optional = kind.endswith(" | None")
    base = kind.removesuffix(" | None")
    if value is None and optional:
        return None
    ok = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    }.get(base)
    if base == "Config":
        return _config_in(value, where)
    if base == "tuple[str, ...]":
        return _names(value, where)
    if ok is None:
        raise WireError(f"{where}: unsupported field type {kind}")
    if not ok(value):
        raise WireError(f"{where}: expected {kind}, got {type(value).__name__}")
    if base == "int" and value < 0:
        raise WireError(f"{where}: negative")
    return float(value) if base == "float" else value


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(r, str) and r for r in value):
        raise WireError(f"{where}: not a list of names")
    return tuple(value)


def _config_in(value: Any, where: str) -> Config:
    keys = {"epoch", "primary", "replicas"}
    if not isinstance(value, dict) or not keys <= set(value) <= keys | {"voters"}:
        raise WireError(f"{where}: not a config")
    epoch = _check(value["epoch"], "int", f"{where}.epoch")
    primary = _check(value["primary"], "str | None", f"{where}.primary")
    reps = _names(value["replicas"], f"{where}.replicas")
    voters = _names(value.get("voters", []), f"{where}.voters")
    return Config(epoch, primary, reps, voters)


def decode(data: bytes) -> Message:
    if len(data) > MAX_MESSAGE:
        raise WireError(f"message of {len(data)} bytes is over the {MAX_MESSAGE} limit")
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise WireError("not a JSON object")
    cls = _TYPES.get(body.pop("type", None))
    if cls is None:
        raise WireError("unknown message type")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = set(body) - set(fields)
    if extra:
        raise WireError(f"{cls.__name__}: unknown fields {sorted(extra)}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in body:
            if f.default is dataclasses.MISSING:
                raise WireError(f"{cls.__name__}: missing field {name}")
            continue
        kwargs[name] = _check(body[name], str(f.type), f"{cls.__name__}.{name}")
    msg: Message = cls(**kwargs)
    return msg

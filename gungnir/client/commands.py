"""Typed helpers for the commands the daemon and most applications use.

The helpers are a mixin over one primitive, ``_cmd(args, transform)``: a
:class:`~gungnir.client.Connection` sends the command and returns an awaitable of the
(transformed) reply, a :class:`~gungnir.client.Pipeline` queues it and returns itself.  So
``await conn.info()`` and ``pipe.info()`` share one definition, and a helper whose reply is
used as-is (GET, MGET, ...) costs nothing over ``execute``: it hands back the bare future.

Replies are ``bytes`` unless the connection decodes; parsed helpers (INFO, ROLE, CONFIG GET)
always give ``str`` keys because they are read by programs, not passed through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CommandsMixin",
    "ReplicaLink",
    "Role",
    "parse_client_list",
    "parse_info",
    "parse_role",
]


def _s(value: Any) -> str:
    """Text of a reply element (bytes, str, Verbatim or number)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _num(text: str) -> Any:
    """INFO values: int if integral, float if numeric, else the text unchanged."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _info_value(key: str, text: str) -> Any:
    # "slave0:ip=10.0.0.2,port=6380,state=online,offset=42,lag=0" and
    # "db0:keys=1,expires=0,avg_ttl=0" are records; so is anything a=b,c=d shaped.
    if "=" in text and not key.startswith(("executable", "config_file")):
        parts = text.split(",")
        if all("=" in p for p in parts):
            return {k: _num(v) for k, _, v in (p.partition("=") for p in parts)}
    return _num(text)


def parse_info(reply: Any) -> dict[str, Any]:
    """INFO text -> flat dict; numbers become int/float, ``a=b,c=d`` records become dicts.

    Section headers (``# Replication``) are dropped; keys are unique across sections.
    """
    out: dict[str, Any] = {}
    for raw in _s(reply).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        out[key] = _info_value(key, value)
    return out


@dataclass(frozen=True, slots=True)
class ReplicaLink:
    """One replica as its primary reports it in ROLE."""

    host: str
    port: int
    offset: int


@dataclass(frozen=True, slots=True)
class Role:
    """ROLE, normalised: ``role`` is ``"primary"``, ``"replica"`` or ``"sentinel"``.

    For a primary: ``offset`` (master_repl_offset) and ``replicas``.  For a replica:
    ``primary_host``, ``primary_port``, ``state`` (connect, connecting, sync, connected,
    handshake) and ``offset`` (the replication offset it has processed; -1 before sync).
    """

    role: str
    offset: int = 0
    replicas: tuple[ReplicaLink, ...] = ()
    primary_host: str | None = None
    primary_port: int | None = None
    state: str | None = None
    primaries: tuple[str, ...] = ()

    @property
    def is_primary(self) -> bool:
        return self.role == "primary"

    @property
    def is_replica(self) -> bool:
        return self.role == "replica"


def parse_role(reply: Any) -> Role:
    """ROLE reply -> :class:`Role`; raises ValueError on a shape we do not know."""
    if not isinstance(reply, list) or not reply:
        raise ValueError(f"unexpected ROLE reply {reply!r:.100}")
    kind = _s(reply[0])
    if kind in ("master", "primary"):
        links = tuple(ReplicaLink(_s(r[0]), int(_s(r[1])), int(_s(r[2]))) for r in (reply[2] or ()))
        return Role("primary", offset=int(reply[1]), replicas=links)
    if kind in ("slave", "replica"):
        return Role(
            "replica",
            offset=int(reply[4]),
            primary_host=_s(reply[1]),
            primary_port=int(reply[2]),
            state=_s(reply[3]),
        )
    if kind == "sentinel":
        return Role("sentinel", primaries=tuple(_s(m) for m in (reply[1] or ())))
    raise ValueError(f"unknown role {kind!r} in ROLE reply")


def parse_client_list(reply: Any) -> list[dict[str, str]]:
    """CLIENT LIST text -> one ``{field: value}`` dict per connection."""
    out: list[dict[str, str]] = []
    for line in _s(reply).splitlines():
        if line.strip():
            out.append({k: v for k, _, v in (f.partition("=") for f in line.split(" ")) if k})
    return out


def _server_time(reply: Any) -> float:
    seconds, micros = reply
    return int(seconds) + int(micros) / 1_000_000


def _pairs_to_dict(reply: Any) -> dict[Any, Any]:
    """RESP3 maps are dicts already; RESP2 gives the same data as a flat list."""
    if isinstance(reply, dict):
        return reply
    if reply is None:
        return {}
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _str_dict(reply: Any) -> dict[str, Any]:
    return {
        _s(k): _s(v) if isinstance(v, (bytes, bytearray)) else v
        for k, v in _pairs_to_dict(reply).items()
    }


def _is_ok(reply: Any) -> bool:
    return reply is not None


def _bool(reply: Any) -> bool:
    return bool(reply)


def _flatten(mapping: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> list[Any]:
    items = mapping.items() if isinstance(mapping, Mapping) else mapping
    out: list[Any] = []
    for k, v in items:
        out.append(k)
        out.append(v)
    return out


Transform = Callable[[Any], Any] | None


class CommandsMixin:
    """Command helpers; the host class provides ``_cmd(args, transform)``."""

    __slots__ = ()

    def _cmd(self, args: tuple[Any, ...], cb: Transform) -> Any:  # pragma: no cover
        raise NotImplementedError

    # -- connection -----------------------------------------------------------------------

    def ping(self, message: Any = None) -> Any:
        return self._cmd(("PING",) if message is None else ("PING", message), None)

    def echo(self, message: Any) -> Any:
        return self._cmd(("ECHO", message), None)

    def client_id(self) -> Any:
        return self._cmd(("CLIENT", "ID"), None)

    def client_setname(self, name: str) -> Any:
        return self._cmd(("CLIENT", "SETNAME", name), _is_ok)

    def client_getname(self) -> Any:
        return self._cmd(("CLIENT", "GETNAME"), None)

    def client_pause(self, timeout_ms: int, *, write_only: bool = False) -> Any:
        """CLIENT PAUSE; ``write_only=True`` pauses only writes (the fencing mode)."""
        args: tuple[Any, ...] = ("CLIENT", "PAUSE", int(timeout_ms))
        if write_only:
            args += ("WRITE",)
        return self._cmd(args, _is_ok)

    def client_unpause(self) -> Any:
        return self._cmd(("CLIENT", "UNPAUSE"), _is_ok)

    def client_list(self) -> Any:
        """CLIENT LIST parsed by :func:`parse_client_list`."""
        return self._cmd(("CLIENT", "LIST"), parse_client_list)

    def client_kill(
        self,
        *,
        client_id: int | None = None,
        addr: str | None = None,
        client_type: str | None = None,
        user: str | None = None,
        skipme: bool = True,
    ) -> Any:
        """CLIENT KILL with filters (e.g. ``client_type="normal"`` to drop every client of a
        fenced primary); the number of connections closed."""
        args: list[Any] = ["CLIENT", "KILL"]
        for name, value in (
            ("ID", client_id),
            ("ADDR", addr),
            ("TYPE", client_type),
            ("USER", user),
        ):
            if value is not None:
                args += [name, value]
        if len(args) == 2:
            raise ValueError("CLIENT KILL needs at least one filter")
        args += ["SKIPME", "yes" if skipme else "no"]
        return self._cmd(tuple(args), None)

    def time(self) -> Any:
        """Server TIME as float seconds since the epoch (for clock-drift checks)."""
        return self._cmd(("TIME",), _server_time)

    def client_tracking(
        self,
        on: bool = True,
        *,
        prefixes: Iterable[Any] = (),
        bcast: bool = False,
        optin: bool = False,
        optout: bool = False,
        noloop: bool = False,
        redirect: int | None = None,
    ) -> Any:
        """CLIENT TRACKING; on RESP3 invalidations arrive as pushes on this connection."""
        args: list[Any] = ["CLIENT", "TRACKING", "ON" if on else "OFF"]
        if redirect is not None:
            args += ["REDIRECT", redirect]
        for p in prefixes:
            args += ["PREFIX", p]
        for flag, name in (
            (bcast, "BCAST"),
            (optin, "OPTIN"),
            (optout, "OPTOUT"),
            (noloop, "NOLOOP"),
        ):
            if flag:
                args.append(name)
        return self._cmd(tuple(args), _is_ok)

    # -- keys and strings -----------------------------------------------------------------

    def get(self, key: Any) -> Any:
        return self._cmd(("GET", key), None)

    def set(
        self,
        key: Any,
        value: Any,
        *,
        ex: float | None = None,
        px: int | None = None,
        exat: int | None = None,
        pxat: int | None = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
    ) -> Any:
        """SET with options.  Result: True if set, False if NX/XX prevented it; with
        ``get=True`` the old value (or None) instead."""
        if not (nx or xx or keepttl or get) and ex is None and px is None and exat is None:
            if pxat is None:  # the common case, kept cheap
                return self._cmd(("SET", key, value), _is_ok)
        if nx and xx:
            raise ValueError("SET: nx and xx are mutually exclusive")
        if sum(x is not None for x in (ex, px, exat, pxat)) + keepttl > 1:
            raise ValueError("SET: give at most one of ex, px, exat, pxat, keepttl")
        args: list[Any] = ["SET", key, value]
        if ex is not None:
            if isinstance(ex, float) and not ex.is_integer():
                args += ["PX", int(ex * 1000)]
            else:
                args += ["EX", int(ex)]
        elif px is not None:
            args += ["PX", int(px)]
        elif exat is not None:
            args += ["EXAT", int(exat)]
        elif pxat is not None:
            args += ["PXAT", int(pxat)]
        elif keepttl:
            args.append("KEEPTTL")
        if nx:
            args.append("NX")
        elif xx:
            args.append("XX")
        if get:
            args.append("GET")
            return self._cmd(tuple(args), None)
        return self._cmd(tuple(args), _is_ok)

    def delete(self, *keys: Any) -> Any:
        """DEL; the number of keys removed."""
        return self._cmd(("DEL", *keys), None)

    def exists(self, *keys: Any) -> Any:
        return self._cmd(("EXISTS", *keys), None)

    def incr(self, key: Any) -> Any:
        return self._cmd(("INCR", key), None)

    def incrby(self, key: Any, amount: int) -> Any:
        return self._cmd(("INCRBY", key, int(amount)), None)

    def decr(self, key: Any) -> Any:
        return self._cmd(("DECR", key), None)

    def expire(
        self,
        key: Any,
        seconds: int,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Any:
        """EXPIRE; True if the timeout was set."""
        args: tuple[Any, ...] = ("EXPIRE", key, int(seconds))
        for flag, name in ((nx, "NX"), (xx, "XX"), (gt, "GT"), (lt, "LT")):
            if flag:
                args += (name,)
        return self._cmd(args, _bool)

    def ttl(self, key: Any) -> Any:
        return self._cmd(("TTL", key), None)

    def mget(self, *keys: Any) -> Any:
        return self._cmd(("MGET", *keys), None)

    def mset(self, mapping: Mapping[Any, Any]) -> Any:
        if not mapping:
            raise ValueError("MSET needs at least one key")
        return self._cmd(("MSET", *_flatten(mapping)), _is_ok)

    # -- hashes and lists -----------------------------------------------------------------

    def hset(self, key: Any, mapping: Mapping[Any, Any]) -> Any:
        """HSET key f1 v1 ...; the number of fields added."""
        if not mapping:
            raise ValueError("HSET needs at least one field")
        return self._cmd(("HSET", key, *_flatten(mapping)), None)

    def hget(self, key: Any, field: Any) -> Any:
        return self._cmd(("HGET", key, field), None)

    def hgetall(self, key: Any) -> Any:
        """HGETALL as a dict (RESP3 sends a map; RESP2's flat list is paired up)."""
        return self._cmd(("HGETALL", key), _pairs_to_dict)

    def lpush(self, key: Any, *values: Any) -> Any:
        return self._cmd(("LPUSH", key, *values), None)

    def rpush(self, key: Any, *values: Any) -> Any:
        return self._cmd(("RPUSH", key, *values), None)

    def lrange(self, key: Any, start: int, stop: int) -> Any:
        return self._cmd(("LRANGE", key, int(start), int(stop)), None)

    # -- pub/sub --------------------------------------------------------------------------

    def publish(self, channel: Any, message: Any) -> Any:
        """PUBLISH; the number of subscribers that received it."""
        return self._cmd(("PUBLISH", channel, message), None)

    def spublish(self, channel: Any, message: Any) -> Any:
        return self._cmd(("SPUBLISH", channel, message), None)

    # -- server and replication -----------------------------------------------------------

    def info(self, *sections: str) -> Any:
        """INFO parsed by :func:`parse_info` into a flat dict."""
        return self._cmd(("INFO", *sections), parse_info)

    def role(self) -> Any:
        """ROLE parsed into a :class:`Role`."""
        return self._cmd(("ROLE",), parse_role)

    def replicaof(self, host: str, port: int) -> Any:
        """REPLICAOF host port: make this node replicate ``host:port``."""
        return self._cmd(("REPLICAOF", host, int(port)), _is_ok)

    def replicaof_no_one(self) -> Any:
        """REPLICAOF NO ONE: promote this node to primary."""
        return self._cmd(("REPLICAOF", "NO", "ONE"), _is_ok)

    def wait(self, numreplicas: int, timeout_ms: int) -> Any:
        """WAIT; the number of replicas that acknowledged the writes so far."""
        return self._cmd(("WAIT", int(numreplicas), int(timeout_ms)), None)

    def config_get(self, *patterns: str) -> Any:
        """CONFIG GET as ``{name: value}`` with str keys and values."""
        return self._cmd(("CONFIG", "GET", *patterns), _str_dict)

    def config_set(self, mapping: Mapping[str, Any]) -> Any:
        if not mapping:
            raise ValueError("CONFIG SET needs at least one parameter")
        return self._cmd(("CONFIG", "SET", *_flatten(mapping)), _is_ok)

    def failover(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        force: bool = False,
        timeout_ms: int | None = None,
        abort: bool = False,
    ) -> Any:
        """FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | FAILOVER ABORT."""
        if abort:
            return self._cmd(("FAILOVER", "ABORT"), _is_ok)
        args: list[Any] = ["FAILOVER"]
        if host is not None:
            if port is None:
                raise ValueError("FAILOVER TO needs a port")
            args += ["TO", host, int(port)]
            if force:
                args.append("FORCE")
        elif force:
            raise ValueError("FAILOVER FORCE needs TO host port")
        if timeout_ms is not None:
            args += ["TIMEOUT", int(timeout_ms)]
        return self._cmd(tuple(args), _is_ok)

    def dbsize(self) -> Any:
        return self._cmd(("DBSIZE",), None)

    def flushall(self) -> Any:
        return self._cmd(("FLUSHALL",), _is_ok)

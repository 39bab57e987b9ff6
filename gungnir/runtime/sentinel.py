"""The Sentinel command set, served from gungnir's own state.

Applications already know how to find a primary through Sentinel (redis-py's and
valkey-py's ``Sentinel``, Jedis, Lettuce, go-redis...). Gungnir answers the same questions on
its RESP endpoint so they switch over without a line of new code: same command names, same
field names, same reply shapes in RESP2 and RESP3, same error texts, and the same pub/sub
event channels and payloads (``+switch-master <name> <oldip> <oldport> <newip> <newport>``,
``+sdown master <name> <ip> <port>``...). The shapes were read from Valkey's ``sentinel.c``
and are checked side by side against a real Sentinel in the tests.

The daemon owns the truth; this module only renders it. The daemon implements
:class:`SentinelView` (groups, the current primary, replicas, the other daemons, flags,
epochs, and a manual-failover hook), then::

    service = SentinelService(view)
    service.install(resp_server)            # adds SENTINEL, ROLE, INFO, PUBLISH
    service.emit("+sdown", "cache")         # +sdown master cache 10.0.0.5 6379
    service.emit_switch_master("cache", ("10.0.0.5", 6379), ("10.0.0.6", 6379))

Sentinel commands that edit Sentinel's own configuration (MONITOR, REMOVE, SET, RESET,
CONFIG SET, FLUSHCONFIG...) are refused with an explicit error: gungnir's groups and voters
come from its configuration, not from the wire.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Awaitable
from typing import Any

from gungnir import __version__
from gungnir.resp import SimpleString

from .globmatch import glob_match
from .resp_server import OK, CommandError, Raw, RespConnection, RespServer
from .sentinel_model import (
    FailoverRefusedError,
    InstanceState,
    PrimaryState,
    QuorumCheck,
    ReplicaState,
    SentinelPeerState,
    SentinelSettings,
    SentinelView,
)

__all__ = [
    "FailoverRefusedError",
    "InstanceState",
    "PrimaryState",
    "QuorumCheck",
    "ReplicaState",
    "SentinelPeerState",
    "SentinelService",
    "SentinelSettings",
    "SentinelView",
]

NO_SUCH_MASTER = "ERR No such master with that name"

#: The server version this endpoint claims, in HELLO's ``version`` and INFO's
#: ``redis_version`` alike: clients (coredis) gate commands on it, so it must be one whose
#: Sentinel has every command served here (CONFIG GET and MYID came in 6.2), and the two
#: places must agree.  Valkey's Sentinel answers 7.2.4 in INFO too.  Gungnir's own version is
#: ``gungnir_version`` in both.
COMPAT_VERSION = "7.2.4"


def _record(fields: list[tuple[str, Any]]) -> dict[str, str]:
    """Sentinel sends every value as a bulk string, numbers included."""
    return {key: str(value) for key, value in fields}


_UNSUPPORTED = (
    "monitor",
    "remove",
    "set",
    "reset",
    "flushconfig",
    "debug",
    "simulate-failure",
    "info-cache",
    "is-master-down-by-addr",
    "is-primary-down-by-addr",
)

_HELP = [
    "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CKQUORUM <primary-name>",
    "    Check if the gungnir daemons can reach the quorum and the majority for a failover.",
    "CONFIG GET <param> [param param param ...]",
    "    Get global Sentinel configuration parameter.",
    "GET-PRIMARY-ADDR-BY-NAME <primary-name>",
    "    Return the ip and port number of the primary with that name.",
    "FAILOVER <primary-name>",
    "    Start a manual switchover of the primary.",
    "PRIMARY <primary-name>",
    "    Show the state and info of the specified primary.",
    "PRIMARIES",
    "    Show a list of monitored primaries and their state.",
    "MYID",
    "    Return the ID of this daemon.",
    "REPLICAS <primary-name>",
    "    Show a list of replicas for this primary and their states.",
    "SENTINELS <primary-name>",
    "    Show a list of the other daemons for this primary and their state.",
    "HELP",
    "    Print this help.",
]


class SentinelService:
    """Renders a :class:`SentinelView` as Sentinel replies and publishes Sentinel events."""

    def __init__(self, view: SentinelView, settings: SentinelSettings | None = None) -> None:
        self.view = view
        self.settings = settings or SentinelSettings()
        self.server: RespServer | None = None
        self._started = time.monotonic()

    # -- wiring ----------------------------------------------------------------------------

    def install(self, server: RespServer) -> None:
        """Register SENTINEL (and ROLE, INFO, PUBLISH) on ``server``."""
        self.server = server
        server.mode = "sentinel"
        server.version = COMPAT_VERSION
        server.role = None  # Sentinel's HELLO has no role field
        sub = server.register_subcommand
        server.register("sentinel", None, arity=-2)
        for name in ("masters", "primaries"):
            sub("sentinel", name, self._masters, arity=2)
        for name in ("master", "primary"):
            sub("sentinel", name, self._master, arity=3)
        for name in ("replicas", "slaves"):
            sub("sentinel", name, self._replicas, arity=3)
        for name in ("get-master-addr-by-name", "get-primary-addr-by-name"):
            sub("sentinel", name, self._addr, arity=3)
        sub("sentinel", "sentinels", self._sentinels, arity=3)
        sub("sentinel", "myid", lambda c, a: self.view.my_id(), arity=2)
        sub("sentinel", "ckquorum", self._ckquorum, arity=3)
        sub("sentinel", "failover", self._failover, arity=3)
        sub("sentinel", "config", self._config, arity=-4)
        sub("sentinel", "pending-scripts", lambda c, a: [], arity=2)
        sub("sentinel", "help", lambda c, a: list(_HELP), arity=2)
        for name in _UNSUPPORTED:
            sub("sentinel", name, self._unsupported, arity=-2)
        server.register("role", self._role, arity=1)
        server.register("info", self._info, arity=-1)
        server.register("publish", self._publish, arity=3)

    # -- events ----------------------------------------------------------------------------

    def publish_event(self, name: str, payload: str) -> int:
        """Publish one Sentinel event on its channel (the channel is the event name)."""
        if self.server is None:
            raise RuntimeError("SentinelService.install(server) was not called")
        return self.server.publish(name, payload)

    def describe(
        self,
        group: str,
        instance: InstanceState | tuple[str, int] | None = None,
        *,
        primary: PrimaryState | None = None,
    ) -> str:
        """Sentinel's instance text: ``master <name> <ip> <port>``, or for a replica or a
        daemon ``<kind> <name> <ip> <port> @ <group> <primary ip> <primary port>``.

        ``instance`` is ``None`` for the group's primary, a record, or a ``(host, port)``
        pair meaning a replica. ``primary`` overrides the view's primary (e.g. the *old*
        one for +promoted-slave, which Sentinel publishes before the switch).
        """
        master = primary if primary is not None else self.view.primary(group)
        if master is None:
            raise KeyError(group)
        if isinstance(instance, tuple):
            instance = ReplicaState(host=instance[0], port=instance[1])
        if instance is None or isinstance(instance, PrimaryState):
            subject = instance if instance is not None else master
            return f"master {group} {subject.host} {subject.port}"
        return (
            f"{instance.kind} {instance.name} {instance.host} {instance.port} "
            f"@ {group} {master.host} {master.port}"
        )

    def emit(
        self,
        event: str,
        group: str,
        instance: InstanceState | tuple[str, int] | None = None,
        *,
        primary: PrimaryState | None = None,
        extra: str = "",
    ) -> int:
        """Publish an instance event (``+sdown``, ``-sdown``, ``+odown``, ``+try-failover``,
        ``+elected-leader``, ``+promoted-slave``, ``+failover-end``, ``+convert-to-slave``,
        ...) with Sentinel's payload: the instance text, then ``extra`` if given."""
        text = self.describe(group, instance, primary=primary)
        return self.publish_event(event, f"{text} {extra}" if extra else text)

    def emit_odown(
        self, group: str, votes: int, quorum: int, *, primary: PrimaryState | None = None
    ) -> int:
        """``+odown master <name> <ip> <port> #quorum <votes>/<quorum>``; ``primary``
        overrides the view's primary (the node that was judged down)."""
        return self.emit("+odown", group, primary=primary, extra=f"#quorum {votes}/{quorum}")

    def emit_new_epoch(self, epoch: int) -> int:
        return self.publish_event("+new-epoch", str(epoch))

    def emit_switch_master(self, group: str, old: tuple[str, int], new: tuple[str, int]) -> int:
        """``+switch-master <name> <oldip> <oldport> <newip> <newport>``: the event clients
        act on; publish it after the view names the new primary."""
        payload = f"{group} {old[0]} {old[1]} {new[0]} {new[1]}"
        return self.publish_event("+switch-master", payload)

    # -- command handlers ------------------------------------------------------------------

    def _group(self, args: list[bytes]) -> tuple[str, PrimaryState]:
        group = args[2].decode("utf-8", "replace")
        primary = self.view.primary(group)
        if primary is None:
            raise CommandError(NO_SUCH_MASTER)
        return group, primary

    def _master_record(self, group: str, primary: PrimaryState) -> dict[str, str]:
        replicas = self.view.replicas(group)
        sentinels = self.view.sentinels(group)
        return _record(primary.fields(len(replicas), len(sentinels)))

    def _masters(self, conn: RespConnection, args: list[bytes]) -> Any:
        records = []
        for group in self.view.group_names():
            primary = self.view.primary(group)
            if primary is not None:
                records.append(self._master_record(group, primary))
        return records

    def _master(self, conn: RespConnection, args: list[bytes]) -> Any:
        return self._master_record(*self._group(args))

    def _replicas(self, conn: RespConnection, args: list[bytes]) -> Any:
        group, _ = self._group(args)
        return [_record(r.fields()) for r in self.view.replicas(group) if r.announced]

    def _sentinels(self, conn: RespConnection, args: list[bytes]) -> Any:
        group, _ = self._group(args)
        return [_record(s.fields()) for s in self.view.sentinels(group)]

    def _addr(self, conn: RespConnection, args: list[bytes]) -> Any:
        addr = self.view.master_addr(args[2].decode("utf-8", "replace"))
        if addr is None:
            return Raw(b"*-1\r\n", b"_\r\n")  # Sentinel's null array
        return [addr[0], str(addr[1])]

    def _ckquorum(self, conn: RespConnection, args: list[bytes]) -> Any:
        group, _ = self._group(args)
        check = self.view.quorum_check(group)
        if check.quorum_ok and check.majority_ok:
            return SimpleString(
                f"OK {check.usable} usable Sentinels. "
                "Quorum and failover authorization can be reached"
            )
        reasons = []
        if not check.quorum_ok:
            reasons.append(
                "Not enough available Sentinels to reach the specified quorum for this master"
            )
        if not check.majority_ok:
            reasons.append(
                "Not enough available Sentinels to reach the majority and authorize a failover"
            )
        raise CommandError(f"NOQUORUM {check.usable} usable Sentinels. " + ". ".join(reasons))

    def _failover(self, conn: RespConnection, args: list[bytes]) -> Any:
        group, primary = self._group(args)
        if "failover_in_progress" in primary.flags:
            raise CommandError("INPROG Failover already in progress")
        if not any(_eligible(r) for r in self.view.replicas(group)):
            raise CommandError("NOGOODSLAVE No suitable replica to promote")
        try:
            started = self.view.failover(group)
        except FailoverRefusedError as exc:
            raise CommandError(f"{exc.code} {exc.message}") from None
        if inspect.isawaitable(started):
            return _await_failover(started)
        return OK

    def _config(self, conn: RespConnection, args: list[bytes]) -> Any:
        action = args[2].lower()
        if action == b"get":
            found: dict[str, str] = {}
            for pattern in args[3:]:
                for key, value in self.settings.items():
                    if key not in found and glob_match(pattern, key.encode(), nocase=True):
                        found[key] = value
            return found
        if action == b"set":
            raise CommandError(
                "ERR SENTINEL CONFIG SET is not supported: gungnir is configured through its "
                "own configuration"
            )
        raise CommandError(
            "ERR Only SENTINEL CONFIG GET <param> [<param> <param> ...] / SET <param> <value> "
            "[<param> <value> ...] are supported."
        )

    def _unsupported(self, conn: RespConnection, args: list[bytes]) -> Any:
        name = args[1].decode("utf-8", "replace").upper()
        raise CommandError(
            f"ERR SENTINEL {name} is not supported: gungnir's groups and voters come from its "
            "configuration, not from Sentinel commands"
        )

    def _role(self, conn: RespConnection, args: list[bytes]) -> Any:
        return ["sentinel", list(self.view.group_names())]

    def _publish(self, conn: RespConnection, args: list[bytes]) -> Any:
        raise CommandError("ERR Only HELLO messages are accepted by Sentinel instances.")

    def _info(self, conn: RespConnection, args: list[bytes]) -> Any:
        """INFO [section ...]: server, clients and sentinel sections, as Sentinel has."""
        wanted = {a.decode("utf-8", "replace").lower() for a in args[1:]}
        every = not wanted or wanted & {"all", "everything", "default"}
        parts = []
        for section, render in (
            ("server", self._info_server),
            ("clients", self._info_clients),
            ("sentinel", self._info_sentinel),
        ):
            if every or section in wanted:
                parts.append(render())
        return "\r\n".join(parts)

    def _info_server(self) -> str:
        server = self.server
        port = ""
        if server is not None:
            for sock in server.sockets:
                port = str(sock.getsockname()[1])
                break
        lines = {
            "redis_version": COMPAT_VERSION,
            "server_name": "gungnir",
            "gungnir_version": __version__,
            "server_mode": "sentinel",  # Valkey 8.1+ spells it so
            "redis_mode": "sentinel",  # and older clients read this
            "process_id": str(os.getpid()),
            "run_id": self.view.my_id(),
            "tcp_port": port,
            "uptime_in_seconds": str(int(time.monotonic() - self._started)),
        }
        lines.update(self.settings.info_server)
        return "# Server\r\n" + "".join(f"{k}:{v}\r\n" for k, v in lines.items())

    def _info_clients(self) -> str:
        clients = self.server.clients if self.server is not None else set()
        pubsub = sum(1 for c in clients if c.subscriptions)
        return f"# Clients\r\nconnected_clients:{len(clients)}\r\npubsub_clients:{pubsub}\r\n"

    def _info_sentinel(self) -> str:
        groups = [g for g in self.view.group_names() if self.view.primary(g) is not None]
        text = (
            "# Sentinel\r\n"
            f"sentinel_masters:{len(groups)}\r\n"
            "sentinel_tilt:0\r\n"
            "sentinel_tilt_since_seconds:-1\r\n"
            "sentinel_total_tilt:0\r\n"
            "sentinel_running_scripts:0\r\n"
            "sentinel_scripts_queue_length:0\r\n"
            "sentinel_simulate_failure_flags:0\r\n"
        )
        for i, group in enumerate(groups):
            primary = self.view.primary(group)
            assert primary is not None
            status = "ok"
            if "o_down" in primary.flags:
                status = "odown"
            elif "s_down" in primary.flags:
                status = "sdown"
            replicas = len(self.view.replicas(group))
            daemons = len(self.view.sentinels(group)) + 1
            text += (
                f"master{i}:name={group},status={status},address={primary.host}:{primary.port},"
                f"slaves={replicas},sentinels={daemons}\r\n"
            )
        return text


def _eligible(replica: ReplicaState) -> bool:
    """Sentinel's first cut of promotable replicas; the daemon applies its own rules too."""
    down = {"s_down", "o_down", "disconnected"} & replica.flags
    return not down and replica.priority != 0


async def _await_failover(started: Awaitable[None]) -> Any:
    try:
        await started
    except FailoverRefusedError as exc:
        raise CommandError(f"{exc.code} {exc.message}") from None
    return OK

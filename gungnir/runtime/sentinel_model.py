"""What the daemon tells the Sentinel endpoint: the records and the view interface.

:class:`SentinelView` is the contract between the daemon (which implements it from its own
state) and :mod:`gungnir.runtime.sentinel` (which renders it as Sentinel replies and
events). The record types carry Sentinel's fields with Sentinel's names in mind; times are
ages in milliseconds, as Sentinel reports them.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FailoverRefusedError",
    "InstanceState",
    "PrimaryState",
    "QuorumCheck",
    "ReplicaState",
    "SentinelPeerState",
    "SentinelSettings",
    "SentinelView",
    "run_id",
]

#: Sentinel prints flags in this order; unknown extra flags follow, sorted.
_FLAG_ORDER = (
    "s_down",
    "o_down",
    "master",
    "slave",
    "sentinel",
    "disconnected",
    "master_down",
    "failover_in_progress",
    "promoted",
    "reconf_sent",
    "reconf_inprog",
    "reconf_done",
    "force_failover",
    "script_kill_sent",
    "master_reboot",
)


@dataclass(frozen=True, kw_only=True)
class InstanceState:
    """What every Sentinel instance record shows. Times are ages in milliseconds.

    ``flags`` holds Sentinel's state words: ``s_down``, ``o_down``, ``disconnected``,
    ``master_down``, ``failover_in_progress``, ``promoted``, ``reconf_sent``... The kind word
    (``master``/``slave``/``sentinel``) is added from the record's type.
    """

    host: str
    port: int
    run_id: str = ""
    flags: frozenset[str] = frozenset()
    link_pending_commands: int = 0
    link_refcount: int = 1
    last_ping_sent_ms: int = 0
    last_ok_ping_reply_ms: int = 0
    last_ping_reply_ms: int = 0
    s_down_time_ms: int | None = None
    o_down_time_ms: int | None = None
    down_after_ms: int = 30_000

    kind = "?"

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    def flag_text(self) -> str:
        words = set(self.flags) | {self.kind}
        ordered = [f for f in _FLAG_ORDER if f in words]
        ordered += sorted(words - set(_FLAG_ORDER))
        return ",".join(ordered)

    def _common(self) -> list[tuple[str, Any]]:
        fields: list[tuple[str, Any]] = [
            ("name", self.name),
            ("ip", self.host),
            ("port", self.port),
            ("runid", self.run_id),
            ("flags", self.flag_text()),
            ("link-pending-commands", self.link_pending_commands),
            ("link-refcount", self.link_refcount),
        ]
        return fields

    def _timing(self) -> list[tuple[str, Any]]:
        fields: list[tuple[str, Any]] = [
            ("last-ping-sent", self.last_ping_sent_ms),
            ("last-ok-ping-reply", self.last_ok_ping_reply_ms),
            ("last-ping-reply", self.last_ping_reply_ms),
        ]
        if "s_down" in self.flags:
            fields.append(("s-down-time", self.s_down_time_ms or 0))
        if "o_down" in self.flags:
            fields.append(("o-down-time", self.o_down_time_ms or 0))
        fields.append(("down-after-milliseconds", self.down_after_ms))
        return fields


@dataclass(frozen=True, kw_only=True)
class PrimaryState(InstanceState):
    """A monitored group as Sentinel shows its master: ``group`` is the service name."""

    group: str
    info_refresh_ms: int = 0
    role_reported: str = "master"
    role_reported_time_ms: int = 0
    config_epoch: int = 0
    quorum: int = 2
    failover_timeout_ms: int = 180_000
    parallel_syncs: int = 1
    failover_state: str | None = None

    kind = "master"

    @property
    def name(self) -> str:
        return self.group

    def fields(self, num_replicas: int, num_other_sentinels: int) -> list[tuple[str, Any]]:
        fields = self._common()
        if "failover_in_progress" in self.flags:
            fields.append(("failover-state", self.failover_state or "unknown"))
        fields += self._timing()
        fields += [
            ("info-refresh", self.info_refresh_ms),
            ("role-reported", self.role_reported),
            ("role-reported-time", self.role_reported_time_ms),
            ("config-epoch", self.config_epoch),
            ("num-slaves", num_replicas),
            ("num-other-sentinels", num_other_sentinels),
            ("quorum", self.quorum),
            ("failover-timeout", self.failover_timeout_ms),
            ("parallel-syncs", self.parallel_syncs),
        ]
        return fields


@dataclass(frozen=True, kw_only=True)
class ReplicaState(InstanceState):
    """A replica of a group; Sentinel names replicas ``ip:port``."""

    info_refresh_ms: int = 0
    role_reported: str = "slave"
    role_reported_time_ms: int = 0
    master_link_down_time_ms: int = 0
    master_link_ok: bool = True
    master_host: str | None = None
    master_port: int = 0
    priority: int = 100
    repl_offset: int = 0
    announced: bool = True

    kind = "slave"

    def fields(self) -> list[tuple[str, Any]]:
        return [
            *self._common(),
            *self._timing(),
            ("info-refresh", self.info_refresh_ms),
            ("role-reported", self.role_reported),
            ("role-reported-time", self.role_reported_time_ms),
            ("master-link-down-time", self.master_link_down_time_ms),
            ("master-link-status", "ok" if self.master_link_ok else "err"),
            ("master-host", self.master_host if self.master_host is not None else "?"),
            ("master-port", self.master_port),
            ("slave-priority", self.priority),
            ("slave-repl-offset", self.repl_offset),
            ("replica-announced", int(self.announced)),
        ]


@dataclass(frozen=True, kw_only=True)
class SentinelPeerState(InstanceState):
    """Another daemon, shown as a Sentinel; Sentinel names these by run id."""

    last_hello_message_ms: int = 0
    voted_leader: str = "?"
    voted_leader_epoch: int = 0

    kind = "sentinel"

    @property
    def name(self) -> str:
        return self.run_id

    def fields(self) -> list[tuple[str, Any]]:
        return [
            *self._common(),
            *self._timing(),
            ("last-hello-message", self.last_hello_message_ms),
            ("voted-leader", self.voted_leader),
            ("voted-leader-epoch", self.voted_leader_epoch),
        ]


@dataclass(frozen=True)
class QuorumCheck:
    """``usable`` daemons (this one included) against ``quorum`` and the voter majority."""

    usable: int
    quorum: int
    voters: int

    @property
    def quorum_ok(self) -> bool:
        return self.usable >= self.quorum

    @property
    def majority_ok(self) -> bool:
        return self.usable >= self.voters // 2 + 1


class FailoverRefusedError(Exception):
    """Raised by :meth:`SentinelView.failover`: ``code`` is ``INPROG`` or ``NOGOODSLAVE``
    (the codes Sentinel uses, which tools match on) or another upper-case word."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def run_id(daemon: str, deployment: str) -> str:
    """A daemon's 40-hex Sentinel run id (``SENTINEL MYID``, ``runid`` of SENTINELS, the
    leader in ``+vote-for-leader``): an HMAC of its name under a key of its deployment.

    Why keyed: Sentinel tools tell Sentinels apart by run id across deployments, and daemons
    are usually named d1..d3 everywhere, so the name alone would give every deployment the
    same ids.  Why derived rather than random: every daemon must render its peers' ids the
    same way without asking them, and an id must survive restarts.  ``deployment`` is secret
    material shared by the daemons of one deployment (the peer secret); the key is hashed
    apart from it, so the ids reveal nothing usable against the peer protocol's HMAC.
    """
    key = hashlib.sha256(b"gungnir sentinel run id|" + deployment.encode()).digest()
    return hmac.new(key, daemon.encode(), hashlib.sha1).hexdigest()


class SentinelView(ABC):
    """What the daemon exposes to Sentinel clients. Calls must be cheap and non-blocking:
    they run on the event loop for every request, so return the daemon's cached view."""

    @abstractmethod
    def my_id(self) -> str:
        """This daemon's 40-character hex id (``SENTINEL MYID``)."""

    def run_id(self, daemon: str) -> str:
        """The run id of daemon ``daemon`` (this one or a peer), as :meth:`my_id` shapes
        it; the default suits a single deployment (tests)."""
        return run_id(daemon, "")

    @abstractmethod
    def group_names(self) -> Sequence[str]:
        """Monitored groups, in a stable order."""

    @abstractmethod
    def primary(self, group: str) -> PrimaryState | None:
        """The group's current primary (``None``: no such group)."""

    @abstractmethod
    def replicas(self, group: str) -> Sequence[ReplicaState]:
        """Replicas of the group with their state."""

    @abstractmethod
    def sentinels(self, group: str) -> Sequence[SentinelPeerState]:
        """The *other* daemons watching the group."""

    @abstractmethod
    def failover(self, group: str) -> Awaitable[None] | None:
        """Start a manual switchover (``SENTINEL FAILOVER``); raise
        :class:`FailoverRefusedError` to refuse. Like Sentinel, reply once it has *started*."""

    def master_addr(self, group: str) -> tuple[str, int] | None:
        """``SENTINEL GET-MASTER-ADDR-BY-NAME``: ``None`` answers a null array.  The default
        is Sentinel's (the primary's address, None only for an unknown group); a view may
        answer None when it cannot vouch for the primary, so clients ask the next one."""
        primary = self.primary(group)
        return None if primary is None else (primary.host, primary.port)

    def quorum_check(self, group: str) -> QuorumCheck:
        """``SENTINEL CKQUORUM``. The default counts like Sentinel (peers not down, plus
        this one); the daemon should override it with its fixed voter set."""
        primary = self.primary(group)
        peers = self.sentinels(group)
        usable = 1 + sum(1 for p in peers if not {"s_down", "o_down"} & p.flags)
        quorum = primary.quorum if primary is not None else 1
        return QuorumCheck(usable=usable, quorum=quorum, voters=len(peers) + 1)


@dataclass
class SentinelSettings:
    """Values ``SENTINEL CONFIG GET`` reports; gungnir never reveals a password."""

    resolve_hostnames: bool = False
    announce_hostnames: bool = False
    announce_ip: str = ""
    announce_port: int = 0
    sentinel_user: str = ""
    loglevel: str = "notice"
    #: extra ``INFO server`` lines, e.g. {"tcp_port": "26379"}
    info_server: dict[str, str] = field(default_factory=dict)

    def items(self) -> list[tuple[str, str]]:
        yes = {True: "yes", False: "no"}
        return [
            ("resolve-hostnames", yes[self.resolve_hostnames]),
            ("announce-hostnames", yes[self.announce_hostnames]),
            ("announce-ip", self.announce_ip),
            ("announce-port", str(self.announce_port)),
            ("sentinel-user", self.sentinel_user),
            ("sentinel-pass", ""),
            ("loglevel", self.loglevel),
        ]

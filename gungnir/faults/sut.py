"""The "HA system under test" interface: what the fault harness needs from an HA system.

The harness (network, nemeses, workload, checker) knows nothing about Sentinel or Gungnir; it
talks to a :class:`SystemUnderTest`. Two implementations are planned:

- :class:`gungnir.faults.sentinel.SentinelSUT` — Valkey's own Sentinel, the baseline;
- :class:`gungnir.faults.daemons.GungnirSUT` — Gungnir's daemons (``gungnir run``), whose
  decision logs are replayed through the trace checker after every run.

A SUT owns the processes it starts (Valkey nodes and HA daemons), each placed on a test host
from :class:`gungnir.faults.net.TestNet`. Hosts are named ``n1..nN`` for nodes and ``d1..dN``
for daemons; node ``nI`` and daemon ``dI`` are "co-located" (the nemeses may cut them
together, as one machine, or apart).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gungnir.faults.net import TestNet
from gungnir.local import ValkeyProcess

__all__ = [
    "Convergence",
    "NodeRole",
    "SystemUnderTest",
    "WorkloadClient",
    "WriteIndeterminate",
    "WriteNotSent",
    "WriteRefused",
]

#: Fixed ports: every test host has its own port space, so no clashes are possible.
VALKEY_PORT = 6379
DAEMON_PORT = 26379


class WriteNotSent(Exception):
    """The operation never reached a server (no connection, no primary known): not applied."""


class WriteRefused(Exception):
    """A server answered with an error (READONLY, NOREPLICAS, ...): definitely not applied."""


class WriteIndeterminate(Exception):
    """Sent but no reply (timeout, reset): it may or may not have been applied."""


class WorkloadClient(abc.ABC):
    """One client of the HA system, as an application would use it.

    ``execute`` sends one command through the system's own routing (Sentinel discovery, or
    Gungnir's client) and returns ``(reply, "host:port")`` of the node that answered, or raises
    one of the three ``Write*`` exceptions above, which decide how the operation is recorded.
    """

    @abc.abstractmethod
    def execute(self, *args: Any) -> tuple[Any, str]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def reconnect(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Drop the current connection so the next operation routes afresh (pool churn)."""


@dataclass(frozen=True)
class NodeRole:
    """A role probe of one node: ``role`` is ``master``/``slave`` or ``unreachable``."""

    node: str
    role: str
    following: str | None = None
    link_up: bool | None = None


@dataclass
class Convergence:
    """Whether the whole system agrees on one primary, and if not, why not."""

    ok: bool
    primary: str | None
    reasons: list[str] = field(default_factory=list)


class SystemUnderTest(abc.ABC):
    """An HA system for Valkey, started on a :class:`TestNet` and driven by the harness."""

    #: Short name used in reports (``sentinel``, ``gungnir``).
    name: str = "sut"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        #: SUT-specific knobs, recorded in every report (e.g. ``min_replicas_to_write``).
        self.options: dict[str, Any] = dict(options or {})

    # -- topology -------------------------------------------------------------------------------

    @abc.abstractmethod
    def host_names(self) -> Sequence[str]:
        """Every test host this SUT needs (``n1..``, ``d1..``); the harness creates them."""

    @abc.abstractmethod
    def start(self, net: TestNet, workdir: Path) -> None:
        """Start nodes and daemons on ``net`` and return once the group is healthy."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop every process this SUT started, by pid. Idempotent; called even on failure."""

    @property
    @abc.abstractmethod
    def nodes(self) -> Mapping[str, ValkeyProcess]:
        """Valkey nodes by host name (``n1``...)."""

    @property
    @abc.abstractmethod
    def daemons(self) -> Mapping[str, ValkeyProcess]:
        """HA daemons by host name (``d1``...). Anything with ``pid``/``kill``/``restart``."""

    def colocated_daemon(self, node_host: str) -> str | None:
        """The daemon host that shares a machine with ``node_host`` (``n2`` -> ``d2``)."""
        candidate = "d" + node_host[1:]
        return candidate if candidate in self.daemons else None

    def node_host_of(self, address: str) -> str | None:
        """Host name of the node listening on ``host:port``."""
        for name, node in self.nodes.items():
            if f"{node.host}:{node.port}" == address:
                return name
        return None

    # -- what the system says -------------------------------------------------------------------

    @abc.abstractmethod
    def reported_primary(self) -> str | None:
        """``host:port`` of the primary according to the HA system (its majority view)."""

    @abc.abstractmethod
    def convergence(self) -> Convergence:
        """One primary, every replica following it with its link up, every daemon agreeing."""

    @abc.abstractmethod
    def client(self, index: int) -> WorkloadClient:
        """A workload client routed the way an application of this system would route."""

    def describe(self) -> dict[str, Any]:
        """What the report prints about this SUT's configuration."""
        return {"name": self.name, **self.options}

    def workload_wait(self) -> tuple[int, int] | None:
        """``(replicas, timeout_ms)`` for WAIT after each write when the system asks for it
        (Gungnir's consistency policy); ``None``: plain writes, unless the scenario says so."""
        return None

    def decision_logs(self) -> list[Path]:
        """JSON-lines decision logs the runner replays through the trace checker (none here)."""
        return []

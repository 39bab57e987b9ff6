"""Nemeses: one fault each, as a small object with a ``name``, ``start()`` and ``stop()``.

Targets are resolved when the fault starts ("the primary" is whoever is primary *then*), so a
campaign can chain faults. ``stop()`` heals exactly what ``start()`` did and is safe to call
twice or without a start, which lets the runner heal unconditionally in a ``finally``.

A *machine* is a node host with its co-located daemon host (``n1`` + ``d1``). Network faults
act at the test switch (:class:`~gungnir.faults.net.TestNet`); process faults act on pids.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gungnir.faults.net import NetError, TestNet, netem_available
from gungnir.faults.probe import probe_role
from gungnir.faults.sut import SystemUnderTest
from gungnir.local import ValkeyProcess, wait_until

__all__ = [
    "Bridge",
    "Delay",
    "Flap",
    "Isolate",
    "Kill",
    "Nemesis",
    "PacketLoss",
    "Partition",
    "Pause",
    "RestartEmpty",
    "RollingRestart",
    "Targets",
]


@dataclass
class Targets:
    """Resolves symbolic targets ("primary", "replica", machines) against the live system."""

    net: TestNet
    sut: SystemUnderTest

    def primary_node(self) -> str:
        """Host name of the node that is primary now (by ROLE; the HA system breaks ties)."""
        masters = [
            name for name, node in self.sut.nodes.items() if probe_role(node, 0.5)[0] == "master"
        ]
        if len(masters) == 1:
            return masters[0]
        reported = self.sut.reported_primary()
        host = self.sut.node_host_of(reported) if reported else None
        if host is None:
            raise RuntimeError(f"no single primary to target (ROLE masters: {masters})")
        return host

    def resolve(self, target: str) -> str:
        """``primary``, ``primary-daemon`` (its co-located daemon) or a host name."""
        if target == "primary":
            return self.primary_node()
        if target == "primary-daemon":
            daemon = self.sut.colocated_daemon(self.primary_node())
            if daemon is None:
                raise RuntimeError("the primary has no co-located daemon")
            return daemon
        return target

    def replica_nodes(self) -> list[str]:
        primary = self.primary_node()
        return [name for name in self.sut.nodes if name != primary]

    def machine(self, node_host: str, with_daemon: bool = True) -> list[str]:
        daemon = self.sut.colocated_daemon(node_host) if with_daemon else None
        return [node_host] + ([daemon] if daemon else [])

    def everyone_but(self, hosts: Sequence[str]) -> list[str]:
        return [h for h in self.sut.host_names() if h not in hosts]

    def process(self, host: str) -> ValkeyProcess:
        if host in self.sut.nodes:
            return self.sut.nodes[host]
        return self.sut.daemons[host]


class Nemesis:
    """Base: a named fault. Subclasses fill ``_start``/``_stop`` and set ``detail``."""

    name = "nemesis"

    def __init__(self) -> None:
        self.active = False
        #: What the fault hit, for the report ("n1+d1 cut from n2,d2,n3,d3").
        self.detail: dict[str, Any] = {}

    def start(self) -> None:
        if self.active:
            return
        self._start()
        self.active = True

    def stop(self) -> None:
        if not self.active:
            return
        try:
            self._stop()
        finally:
            self.active = False

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError


class Partition(Nemesis):
    """Drop traffic between groups of hosts; the controller (clients) still sees every side.

    ``groups`` is called at start and returns the sides; hosts in no side keep full
    connectivity (that is how a *bridge* host is made).
    """

    def __init__(self, name: str, targets: Targets, groups: Callable[[], list[list[str]]]):
        super().__init__()
        self.name = name
        self._targets = targets
        self._groups = groups
        self._pairs: list[frozenset[str]] = []

    def _start(self) -> None:
        sides = self._groups()
        self.detail = {"sides": sides}
        for i, side in enumerate(sides):
            for other in sides[i + 1 :]:
                self._pairs += self._targets.net.block(side, other)

    def _stop(self) -> None:
        self._targets.net.unblock(self._pairs)
        self._pairs = []


def Isolate(targets: Targets, *, with_daemon: bool = True, target: str = "primary") -> Partition:
    """Cut the primary's machine (or only its node) from every other host.

    Clients can still reach it — the Jepsen set-up in which an isolated primary keeps
    acknowledging writes that the majority side never sees.
    """

    def groups() -> list[list[str]]:
        node = targets.primary_node() if target == "primary" else target
        cut = targets.machine(node, with_daemon)
        return [cut, targets.everyone_but(cut)]

    suffix = "" if with_daemon else "-node-only"
    return Partition(f"isolate-{target}{suffix}", targets, groups)


def Bridge(targets: Targets) -> Partition:
    """Primary's machine and one replica's machine cannot talk; the third machine sees both."""

    def groups() -> list[list[str]]:
        primary = targets.primary_node()
        replicas = targets.replica_nodes()
        return [targets.machine(primary), targets.machine(replicas[0])]

    return Partition("bridge", targets, groups)


class LinkDown(Nemesis):
    """The host's switch port goes down: it vanishes for everyone, clients included."""

    def __init__(self, targets: Targets, *, with_daemon: bool = True) -> None:
        super().__init__()
        self.name = "link-down-primary" + ("" if with_daemon else "-node-only")
        self._targets = targets
        self._with_daemon = with_daemon
        self._hosts: list[str] = []

    def _start(self) -> None:
        self._hosts = self._targets.machine(self._targets.primary_node(), self._with_daemon)
        self.detail = {"hosts": self._hosts}
        for host in self._hosts:
            self._targets.net.set_link(host, False)

    def _stop(self) -> None:
        for host in self._hosts:
            self._targets.net.set_link(host, True)


class PacketLoss(Nemesis):
    """Drop ``percent`` % of the primary machine's frames at the switch."""

    def __init__(self, targets: Targets, percent: int) -> None:
        super().__init__()
        self.name = f"loss-{percent}pct-primary"
        self._targets = targets
        self._percent = percent
        self._hosts: list[str] = []

    def _start(self) -> None:
        self._hosts = self._targets.machine(self._targets.primary_node())
        self.detail = {"hosts": self._hosts, "percent": self._percent}
        for host in self._hosts:
            self._targets.net.set_loss(host, self._percent)

    def _stop(self) -> None:
        for host in self._hosts:
            self._targets.net.set_loss(host, 0)


class Delay(Nemesis):
    """Delay the primary machine's packets with ``tc netem`` (kernels without it: NetError)."""

    def __init__(self, targets: Targets, delay_ms: int, jitter_ms: int = 0) -> None:
        super().__init__()
        self.name = f"delay-{delay_ms}ms-primary"
        self._targets = targets
        self._delay = (delay_ms, jitter_ms)
        self._hosts: list[str] = []

    def _start(self) -> None:
        if not netem_available():
            raise NetError("this kernel has no sch_netem: the delay nemesis cannot run")
        self._hosts = self._targets.machine(self._targets.primary_node())
        self.detail = {"hosts": self._hosts, "delay_ms": self._delay[0]}
        for host in self._hosts:
            self._targets.net.set_delay(host, *self._delay)

    def _stop(self) -> None:
        for host in self._hosts:
            self._targets.net.set_delay(host, 0)


class Kill(Nemesis):
    """``kill -9`` the target at start; restart it (with an empty dataset) at stop."""

    def __init__(self, targets: Targets, target: str = "primary", restart: bool = True) -> None:
        super().__init__()
        self.name = f"kill-{target}"
        self._targets = targets
        self._target = target
        self._restart = restart
        self._host: str | None = None

    def _start(self) -> None:
        self._host = self._targets.resolve(self._target)
        proc = self._targets.process(self._host)
        self.detail = {"host": self._host, "pid": proc.pid}
        proc.kill(signal.SIGKILL)

    def _stop(self) -> None:
        if self._restart and self._host is not None:
            # No persistence is configured, so the node comes back with an empty dataset.
            self._targets.process(self._host).start()


class WrongSecret(Nemesis):
    """Restart one daemon with a wrong peer secret, and back with the right one at stop.

    The peers refuse its messages: it cannot vote or report, but it is not cut off either, so
    it must not fence the primary as a daemon without a majority would (a misconfigured
    daemon halting a healthy group's writes). The target is the daemon of a replica's
    machine, so the primary's own daemon keeps its voice; only Gungnir's SUT supports it.
    """

    def __init__(self, targets: Targets) -> None:
        super().__init__()
        self.name = "wrong-secret"
        self._targets = targets
        self._host: str | None = None

    def _restart(self, secret: str | None) -> None:
        reconfigure = getattr(self._targets.sut, "restart_daemon_with_secret", None)
        if reconfigure is None:
            raise RuntimeError(f"{self._targets.sut.name} cannot give a daemon another secret")
        assert self._host is not None
        reconfigure(self._host, secret)

    def _start(self) -> None:
        replica = self._targets.replica_nodes()[0]
        self._host = self._targets.sut.colocated_daemon(replica)
        if self._host is None:
            raise RuntimeError(f"no daemon on {replica}'s machine")
        self.detail = {"host": self._host}
        self._restart("not-the-group-secret")

    def _stop(self) -> None:
        if self._host is not None:
            self._restart(None)


class RestartEmpty(Nemesis):
    """Restart the target at once with an empty dataset (faster than failure detection).

    The empty-restart wipe: a primary back within ``down-after`` is still the primary, and its
    replicas resynchronise from its empty dataset. ``stop()`` has nothing to heal.
    """

    def __init__(self, targets: Targets, target: str = "primary") -> None:
        super().__init__()
        self.name = f"restart-empty-{target}"
        self._targets = targets
        self._target = target

    def _start(self) -> None:
        host = self._targets.resolve(self._target)
        proc = self._targets.process(host)
        self.detail = {"host": host, "old_pid": proc.pid}
        proc.restart(empty=True)
        self.detail["new_pid"] = proc.pid

    def _stop(self) -> None:
        return None


class Pause(Nemesis):
    """SIGSTOP the target at start, SIGCONT at stop (a long GC pause, a frozen VM)."""

    def __init__(self, targets: Targets, target: str = "primary") -> None:
        super().__init__()
        self.name = f"pause-{target}"
        self._targets = targets
        self._target = target
        self._proc: ValkeyProcess | None = None

    def _start(self) -> None:
        host = self._targets.resolve(self._target)
        self._proc = self._targets.process(host)
        self.detail = {"host": host, "pid": self._proc.pid}
        self._proc.kill(signal.SIGSTOP)

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill(signal.SIGCONT)


def _answers(node: ValkeyProcess) -> bool:
    return probe_role(node)[0] != "unreachable"


@dataclass
class _Loop:
    """A background loop that stops promptly when asked (used by Flap and RollingRestart)."""

    body: Callable[[threading.Event], None]
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    error: BaseException | None = None

    def start(self, name: str) -> None:
        def run() -> None:
            try:
                self.body(self.stop_event)
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=run, name=name, daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)


class Flap(Nemesis):
    """Toggle an inner nemesis on and off every ``period`` seconds until stopped."""

    def __init__(self, inner: Nemesis, period: float) -> None:
        super().__init__()
        self.name = f"flap-{inner.name}-{period:g}s"
        self._inner = inner
        self._period = period
        self._loop: _Loop | None = None

    def _body(self, stop: threading.Event) -> None:
        flips = 0
        while not stop.is_set():
            if self._inner.active:
                self._inner.stop()
            else:
                self._inner.start()
            flips += 1
            self.detail = {"flips": flips, "last": self._inner.detail}
            stop.wait(self._period)

    def _start(self) -> None:
        self._loop = _Loop(self._body)
        self._loop.start(self.name)

    def _stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
        self._inner.stop()
        if self._loop is not None and self._loop.error is not None:
            raise RuntimeError(f"{self.name} failed") from self._loop.error


class RollingRestart(Nemesis):
    """Restart every node in turn (empty dataset), replicas first, waiting for each to answer."""

    def __init__(self, targets: Targets, gap: float = 3.0) -> None:
        super().__init__()
        self.name = "rolling-restart"
        self._targets = targets
        self._gap = gap
        self._loop: _Loop | None = None

    def _body(self, stop: threading.Event) -> None:
        order = [*self._targets.replica_nodes(), self._targets.primary_node()]
        self.detail = {"order": order, "done": []}
        for host in order:
            if stop.is_set():
                return
            node = self._targets.sut.nodes[host]
            node.restart(empty=True)
            wait_until(partial(_answers, node), timeout=20, what=f"{host} to answer")
            self.detail["done"].append(host)
            stop.wait(self._gap)

    def _start(self) -> None:
        self._loop = _Loop(self._body)
        self._loop.start(self.name)

    def _stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            if self._loop.error is not None:
                raise RuntimeError(f"{self.name} failed") from self._loop.error

"""A private test network: one Linux network namespace per host, joined by a switch namespace.

Why this shape:

- Every test host (a Valkey node, a daemon) gets its own namespace, so it has its own address
  and port space and a partition between two hosts is a real loss of packets, not a mock.
- The bridge lives in a dedicated *switch* namespace (``gnf-<tag>-sw``). Every network fault —
  per-pair drops, link down, packet loss — is applied there, on the bridge ports, so the hosts'
  own network stacks are untouched and a heal is a single atomic ``nft`` reload.
- The test process (the *controller*: workload clients, role probes, set-up commands) gets one
  veth leg from the root namespace into the bridge, with an address in the test range. This is
  the simplest robust option: ordinary sockets from any thread reach every host, with no
  ``setns`` juggling, and the controller is never part of a partition group, so it sees both
  sides of a cut exactly like an application server that can still reach everything. Only the
  ``ip link set down`` fault cuts the controller off too (a host that vanished entirely).
- Addresses come from ``10.213.K.0/24`` with ``K`` chosen free on this machine; they exist only
  on interfaces this module creates. Nothing is routed anywhere else.

Cleanup: a :class:`TestNet` is a context manager, is also registered with ``atexit``, and
:func:`sweep_leftovers` removes namespaces left by a run that died (its creator pid is part of
every name). Removing a namespace destroys its veth ends, and so the root leg with them.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "PREFIX",
    "Host",
    "NetError",
    "TestNet",
    "netem_available",
    "sweep_leftovers",
    "unavailable_reason",
]

#: Every namespace this module creates starts with this; nothing else on the machine may.
PREFIX = "gnf-"
#: Root-namespace legs start with this (interface names are limited to 15 characters).
LEG_PREFIX = "gnf"
SUBNET = "10.213"
CONTROLLER_OCTET = 254
_LOCK_PATH = "/run/gungnir-faults.lock"
_NAME_RE = re.compile(r"^gnf-(\d+)x([0-9a-f]+)-")
_LEG_RE = re.compile(r"^gnf(\d+)x([0-9a-f]+)$")

_LIVE: dict[str, TestNet] = {}
_LIVE_LOCK = threading.Lock()


class NetError(RuntimeError):
    """A network set-up or fault command failed; the message names the command and its error."""


def unavailable_reason() -> str | None:
    """Why this machine cannot run the fault harness, or ``None`` if it can."""
    if os.geteuid() != 0:
        return "fault tests need root (network namespaces, nft)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"fault tests need the '{tool}' command (Debian: iproute2, nftables)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"'ip netns' does not work here: {probe.stderr.strip()}"
    return None


def run(argv: Sequence[str], *, input: str | None = None, check: bool = True) -> str:
    """Run one command, return stdout; raise :class:`NetError` with its stderr on failure."""
    proc = subprocess.run(
        list(argv), input=input, capture_output=True, text=True, timeout=20, check=False
    )
    if check and proc.returncode != 0:
        raise NetError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def netem_available() -> bool:
    """Whether this kernel has ``sch_netem`` (delay); some minimal kernels do not."""
    name = f"{PREFIX}{os.getpid()}x{secrets.token_hex(2)}-probe"
    try:
        run(["ip", "netns", "add", name])
        run(["ip", "-n", name, "link", "add", "d0", "type", "dummy"])
        out = subprocess.run(
            ["ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "d0", "root", "netem",
             "delay", "1ms"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return out.returncode == 0
    except NetError:
        return False
    finally:
        run(["ip", "netns", "del", name], check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _netns_pids(netns: str) -> list[int]:
    out = run(["ip", "netns", "pids", netns], check=False)
    return [int(tok) for tok in out.split() if tok.isdigit()]


def _remove_netns(netns: str) -> None:
    """Kill what still runs inside one of *our* namespaces (by pid), then delete it."""
    for pid in _netns_pids(netns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
    run(["ip", "netns", "del", netns], check=False)


def sweep_leftovers() -> list[str]:
    """Remove ``gnf-*`` namespaces and legs whose creating process is gone; return their names.

    A run killed with SIGKILL cannot clean up after itself; the next run does it. Namespaces of
    a creator that is still alive (another test run in progress) are left alone.
    """
    removed: list[str] = []
    for line in run(["ip", "netns", "list"], check=False).splitlines():
        netns = line.split()[0] if line.split() else ""
        match = _NAME_RE.match(netns)
        if match and not _pid_alive(int(match.group(1))):
            _remove_netns(netns)
            removed.append(netns)
    for line in run(["ip", "-o", "link", "show"], check=False).splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        ifname = parts[1].strip().split("@")[0]
        leg = _LEG_RE.match(ifname)
        if leg and not _pid_alive(int(leg.group(1))):
            run(["ip", "link", "del", ifname], check=False)
            removed.append(ifname)
    return removed


@dataclass(frozen=True)
class Host:
    """One test host: a namespace with one interface (``eth0``) on the test switch."""

    name: str
    netns: str
    port: str
    address: str

    @property
    def launcher(self) -> list[str]:
        """argv prefix that runs a program inside this host (``ip netns exec`` execs it)."""
        return ["ip", "netns", "exec", self.netns]


@dataclass
class TestNet:
    """The switch, the hosts and the controller leg, plus the faults applied at the switch."""

    __test__ = False  # not a pytest test class, despite the name

    names: Sequence[str]
    tag: str = field(default_factory=lambda: f"{os.getpid()}x{secrets.token_hex(2)}")
    hosts: dict[str, Host] = field(default_factory=dict)
    controller_address: str = ""
    _octet: int = 0
    _created: list[str] = field(default_factory=list)
    _blocked: Counter[frozenset[str]] = field(default_factory=Counter)
    _loss: dict[str, int] = field(default_factory=dict)
    _delay: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def switch(self) -> str:
        return f"{PREFIX}{self.tag}-sw"

    @property
    def leg(self) -> str:
        return f"{LEG_PREFIX}{self.tag}"

    # -- lifecycle ------------------------------------------------------------------------------

    def create(self) -> TestNet:
        if len(self.leg) > 15:
            raise NetError(f"interface name {self.leg!r} too long; use a shorter tag")
        with _LIVE_LOCK:
            _LIVE[self.tag] = self
        try:
            with open(_LOCK_PATH, "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # two runs must not pick the same subnet
                self._octet = self._free_octet()
                self._build()
        except BaseException:
            self.destroy()
            raise
        return self

    def _free_octet(self) -> int:
        used = set(re.findall(rf"\b{re.escape(SUBNET)}\.(\d+)\.", run(["ip", "-4", "addr"])))
        for line in run(["ip", "netns", "list"], check=False).splitlines():
            if line.startswith(PREFIX) and line.split():
                addrs = run(["ip", "-n", line.split()[0], "-4", "addr"], check=False)
                used.update(re.findall(rf"\b{re.escape(SUBNET)}\.(\d+)\.", addrs))
        for octet in range(1, 255):
            if str(octet) not in used:
                return octet
        raise NetError(f"no free /24 left in {SUBNET}.0.0/16")

    def _build(self) -> None:
        sw = self.switch
        run(["ip", "netns", "add", sw])
        self._created.append(sw)
        run(["ip", "-n", sw, "link", "set", "lo", "up"])
        run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", sw, "link", "set", "br0", "up"])
        for index, name in enumerate(self.names, start=1):
            host = Host(
                name=name,
                netns=f"{PREFIX}{self.tag}-{name}",
                port=f"p{index}",
                address=f"{SUBNET}.{self._octet}.{index}",
            )
            run(["ip", "netns", "add", host.netns])
            self._created.append(host.netns)
            run(["ip", "-n", host.netns, "link", "set", "lo", "up"])
            run(["ip", "-n", host.netns, "link", "add", "eth0", "type", "veth",
                 "peer", "name", host.port, "netns", sw])  # fmt: skip
            run(["ip", "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0"])
            run(["ip", "-n", host.netns, "link", "set", "eth0", "up"])
            run(["ip", "-n", sw, "link", "set", host.port, "master", "br0"])
            run(["ip", "-n", sw, "link", "set", host.port, "up"])
            self.hosts[name] = host
        self.controller_address = f"{SUBNET}.{self._octet}.{CONTROLLER_OCTET}"
        run(["ip", "link", "add", self.leg, "type", "veth", "peer", "name", "ctl", "netns", sw])
        run(["ip", "addr", "add", f"{self.controller_address}/24", "dev", self.leg])
        run(["ip", "link", "set", self.leg, "up"])
        run(["ip", "-n", sw, "link", "set", "ctl", "master", "br0"])
        run(["ip", "-n", sw, "link", "set", "ctl", "up"])
        self._apply_rules()

    def destroy(self) -> None:
        """Kill anything left in our namespaces, delete them and the leg. Idempotent."""
        for netns in reversed(self._created):
            _remove_netns(netns)
        self._created.clear()
        run(["ip", "link", "del", self.leg], check=False)
        with _LIVE_LOCK:
            _LIVE.pop(self.tag, None)

    def __enter__(self) -> TestNet:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def namespaces(self) -> list[str]:
        return list(self._created)

    # -- faults at the switch -------------------------------------------------------------------

    def block(self, side_a: Iterable[str], side_b: Iterable[str]) -> list[frozenset[str]]:
        """Drop all traffic between every host of ``side_a`` and every host of ``side_b``.

        Blocks are counted, so two overlapping faults each heal only their own share.
        """
        pairs = [frozenset((a, b)) for a in side_a for b in side_b if a != b]
        with self._lock:
            self._blocked.update(pairs)
            self._apply_rules()
        return pairs

    def unblock(self, pairs: Iterable[frozenset[str]]) -> None:
        with self._lock:
            self._blocked.subtract(pairs)
            self._blocked = +self._blocked  # drop zero and negative counts
            self._apply_rules()

    def set_loss(self, host: str, percent: int) -> None:
        """Drop ``percent`` % of frames entering and leaving ``host``'s port (0 heals)."""
        if not 0 <= percent <= 100:
            raise ValueError(f"loss percent must be 0..100, got {percent}")
        with self._lock:
            if percent:
                self._loss[host] = percent
            else:
                self._loss.pop(host, None)
            self._apply_rules()

    def set_link(self, host: str, up: bool) -> None:
        """Bring ``host``'s switch port down (it vanishes for everyone, controller included)."""
        run(["ip", "-n", self.switch, "link", "set", self.hosts[host].port,
             "up" if up else "down"])  # fmt: skip

    def set_delay(self, host: str, delay_ms: int, jitter_ms: int = 0) -> None:
        """Delay ``host``'s outgoing packets with ``tc netem`` (needs :func:`netem_available`)."""
        h = self.hosts[host]
        base = ["ip", "netns", "exec", h.netns, "tc", "qdisc"]
        if delay_ms <= 0:
            run([*base, "del", "dev", "eth0", "root"], check=False)
            self._delay.pop(host, None)
            return
        spec = ["delay", f"{delay_ms}ms"] + ([f"{jitter_ms}ms"] if jitter_ms else [])
        run([*base, "replace", "dev", "eth0", "root", "netem", *spec])
        self._delay[host] = " ".join(spec)

    def heal_all(self) -> None:
        """Undo every fault this net applied (blocks, loss, delay, links)."""
        with self._lock:
            self._blocked.clear()
            self._loss.clear()
            self._apply_rules()
        for host in list(self._delay):
            self.set_delay(host, 0)
        for host in self.hosts:
            self.set_link(host, True)

    def _apply_rules(self) -> None:
        """Replace the switch's whole rule set atomically from the wanted state."""
        if not self._created:
            return
        lines = [
            "table bridge gnf",
            "delete table bridge gnf",
            "table bridge gnf {",
            "  chain forward {",
            "    type filter hook forward priority 0; policy accept;",
        ]
        for pair in sorted(self._blocked, key=sorted):
            a, b = sorted(pair)
            pa, pb = self.hosts[a].port, self.hosts[b].port
            lines.append(f'    iifname "{pa}" oifname "{pb}" drop')
            lines.append(f'    iifname "{pb}" oifname "{pa}" drop')
        for host, percent in sorted(self._loss.items()):
            port = self.hosts[host].port
            chance = "" if percent >= 100 else f" numgen random mod 100 < {percent}"
            lines.append(f'    iifname "{port}"{chance} drop')
            lines.append(f'    oifname "{port}"{chance} drop')
        lines += ["  }", "}"]
        run(["ip", "netns", "exec", self.switch, "nft", "-f", "-"], input="\n".join(lines) + "\n")

    def describe_faults(self) -> dict[str, object]:
        with self._lock:
            return {
                "blocked": sorted(sorted(p) for p in self._blocked),
                "loss": dict(self._loss),
                "delay": dict(self._delay),
            }

    # -- reachability checks (used by tests and by set-up) ---------------------------------------

    def connect_ok(self, src: str | None, address: str, port: int, timeout: float = 1.0) -> bool:
        """Can ``src`` (a host name, or ``None`` for the controller) open TCP to address:port?"""
        if src is None:
            try:
                with socket.create_connection((address, port), timeout=timeout):
                    return True
            except OSError:
                return False
        code = (
            "import socket,sys\n"
            "try:\n"
            f"    socket.create_connection(({address!r}, {port}), timeout={timeout}).close()\n"
            "except OSError:\n"
            "    sys.exit(1)\n"
        )
        proc = subprocess.run(
            [*self.hosts[src].launcher, _python(), "-c", code],
            capture_output=True, timeout=timeout + 10, check=False,
        )  # fmt: skip
        return proc.returncode == 0


def _python() -> str:
    import sys

    return sys.executable


@contextlib.contextmanager
def test_net(names: Sequence[str]) -> Iterator[TestNet]:
    """A :class:`TestNet` for the duration of the ``with`` block."""
    net = TestNet(names)
    with net:
        yield net


test_net.__test__ = False  # type: ignore[attr-defined]


@atexit.register
def _destroy_leftovers() -> None:
    with _LIVE_LOCK:
        nets = list(_LIVE.values())
    for net in nets:
        with contextlib.suppress(Exception):
            net.destroy()

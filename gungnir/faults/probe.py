"""Role probes: what every node says it is, sampled from the controller through the run.

One thread per node, so a paused or cut-off node (whose probe times out) does not delay the
samples of the others. A sample is ``(t, node, role, following, link_up)``; an unanswered
probe is recorded as role ``unreachable``. The checker uses these to find intervals in which
two nodes claimed to be primary, and to avoid calling a clean A -> B -> A switchover a
two-writer interval (A's writes around B's are separated by a period in which A was a
replica).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gungnir.local import ValkeyProcess

__all__ = ["RoleProber", "RoleSample", "probe_role"]


@dataclass(frozen=True)
class RoleSample:
    t: float
    node: str  # "host:port"
    role: str  # "master" | "slave" | "unreachable" | "other"
    following: str | None = None  # replica: "host:port" of its primary
    link_up: bool | None = None  # replica: ROLE state is "connected"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def probe_role(node: ValkeyProcess, timeout: float = 0.25) -> tuple[str, str | None, bool | None]:
    """``ROLE`` of one node as ``(role, following, link_up)``; ``unreachable`` on any error."""
    try:
        reply = node.command("ROLE", timeout=timeout)
    except Exception:  # refused, timed out, reset, garbled: all mean "no answer"
        return ("unreachable", None, None)
    if isinstance(reply, BaseException) or not isinstance(reply, list) or not reply:
        return ("unreachable", None, None)
    role = _text(reply[0])
    if role == "master":
        return ("master", None, None)
    if role == "slave" and len(reply) >= 4:
        return ("slave", f"{_text(reply[1])}:{int(reply[2])}", _text(reply[3]) == "connected")
    return ("other", None, None)


class RoleProber:
    """Samples ``ROLE`` of every node every ``interval`` seconds until stopped."""

    def __init__(
        self,
        nodes: Mapping[str, ValkeyProcess],
        clock: Callable[[], float],
        interval: float = 0.1,
        timeout: float = 0.25,
    ) -> None:
        self._nodes = dict(nodes)
        self._clock = clock
        self._interval = interval
        self._timeout = timeout
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.samples: list[RoleSample] = []

    def start(self) -> None:
        for name, node in self._nodes.items():
            thread = threading.Thread(
                target=self._run, args=(node,), name=f"gnf-probe-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5.0)

    def _run(self, node: ValkeyProcess) -> None:
        address = f"{node.host}:{node.port}"
        while not self._stop.is_set():
            t = self._clock()
            role, following, link = probe_role(node, self._timeout)
            with self._lock:
                self.samples.append(RoleSample(t, address, role, following, link))
            self._stop.wait(self._interval)

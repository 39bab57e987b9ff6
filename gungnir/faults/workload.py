"""Recorded client operations: acknowledged INCR and SADD of unique values, optionally WAIT.

Each client is a thread with its own :class:`~gungnir.faults.sut.WorkloadClient` (so its own
connection and its own view of who the primary is, as separate application processes would
have). Every operation is recorded once, with its start and end on the run's monotonic clock,
its result and the node that answered:

- ``ok`` — the server acknowledged it;
- ``fail`` — definitely not applied (never sent, or the server answered with an error);
- ``unknown`` — sent, but no reply (timeout, reset): it may have been applied.

The loops are bounded by an operation count and a deadline, and paced at ``rate`` operations
per second per client so that the clients do not starve the servers on a small machine (the
pacing is a rate limit, not a wait for a condition).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from gungnir.faults.sut import (
    WorkloadClient,
    WriteIndeterminate,
    WriteNotSent,
    WriteRefused,
)

__all__ = ["COUNTER_KEY", "SET_KEY", "Op", "Workload"]

COUNTER_KEY = "gnf:counter"
SET_KEY = "gnf:set"


@dataclass
class Op:
    """One recorded operation (the unit of the history)."""

    client: int
    op: str  # "incr" | "sadd"
    value: Any  # the SADD member, or the value INCR returned
    start: float
    end: float
    result: str  # "ok" | "fail" | "unknown"
    node: str | None
    error: str | None = None
    #: Replicas that acknowledged the write per WAIT, when the workload asks for WAIT.
    wait_acks: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WorkloadConfig:
    clients: int = 4
    rate: float = 40.0  # operations per second per client
    max_ops: int = 20_000  # per client
    #: ``(replicas, timeout_ms)``: after each acknowledged SADD send ``WAIT`` and record acks.
    wait: tuple[int, int] | None = None
    #: Drop the connection every this many seconds so the client routes afresh, as pools,
    #: restarts and new application processes do. ``None`` (the default, and redis-py's
    #: behaviour): keep a working connection for as long as it works.
    reconnect_s: float | None = None


class Workload:
    """Several client threads writing until stopped, the deadline, or ``max_ops``."""

    def __init__(
        self,
        make_client: Callable[[int], WorkloadClient],
        config: WorkloadConfig,
        clock: Callable[[], float],
        deadline: float,
    ) -> None:
        self._make_client = make_client
        self.config = config
        self._clock = clock
        self._deadline = deadline
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.history: list[Op] = []
        self.errors: list[str] = []

    def start(self) -> None:
        for index in range(self.config.clients):
            thread = threading.Thread(
                target=self._run, args=(index,), name=f"gnf-client-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            self.errors.append(f"client threads still running after stop: {stuck}")

    def ok_count(self) -> int:
        with self._lock:
            return sum(1 for op in self.history if op.result == "ok")

    def _record(self, op: Op) -> None:
        with self._lock:
            self.history.append(op)

    def _run(self, index: int) -> None:
        try:
            client = self._make_client(index)
        except Exception as exc:  # a client that cannot even be built is a harness error
            self.errors.append(f"client {index}: {exc!r}")
            return
        period = 1.0 / self.config.rate if self.config.rate > 0 else 0.0
        next_at = self._clock()
        # Stagger the clients' reconnections so that they do not all re-route at once.
        churn = self.config.reconnect_s
        reconnect_at = next_at + churn * (index + 1) / self.config.clients if churn else None
        try:
            for seq in range(self.config.max_ops):
                now = self._clock()
                if self._stop.is_set() or now >= self._deadline:
                    break
                if churn and reconnect_at is not None and now >= reconnect_at:
                    client.reconnect()
                    reconnect_at = now + churn
                if next_at > now:
                    self._stop.wait(next_at - now)
                next_at = max(next_at + period, self._clock() - period)
                if seq % 2 == 0:
                    self._one(client, index, "incr", None, ("INCR", COUNTER_KEY))
                else:
                    member = f"{index}-{seq}"
                    self._one(client, index, "sadd", member, ("SADD", SET_KEY, member))
        finally:
            client.close()

    def _one(
        self,
        client: WorkloadClient,
        index: int,
        kind: str,
        member: str | None,
        args: tuple[Any, ...],
    ) -> None:
        start = self._clock()
        node: str | None = None
        error: str | None = None
        value: Any = member
        try:
            reply, node = client.execute(*args)
            result = "ok"
            if kind == "incr":
                value = int(reply)
        except WriteNotSent as exc:
            result, error = "fail", str(exc)
        except WriteRefused as exc:
            result, error = "fail", str(exc)
            node = getattr(exc, "node", None)
        except WriteIndeterminate as exc:
            result, error = "unknown", str(exc)
            node = getattr(exc, "node", None)
        except Exception as exc:  # a client bug: count it as unknown and surface it
            result, error = "unknown", f"unexpected {exc!r}"
            with self._lock:
                self.errors.append(f"client {index}: {exc!r}")
        end = self._clock()
        op = Op(index, kind, value, start, end, result, node, error)
        if result == "ok" and kind == "sadd" and self.config.wait is not None:
            op.wait_acks = self._wait(client, node)
            op.end = self._clock()  # acknowledged to the application only after WAIT
        self._record(op)

    def _wait(self, client: WorkloadClient, node: str | None) -> int:
        """Replicas that confirmed the write; 0 if WAIT failed or ran on another connection."""
        assert self.config.wait is not None
        replicas, timeout_ms = self.config.wait
        try:
            reply, wait_node = client.execute("WAIT", replicas, timeout_ms)
        except (WriteNotSent, WriteRefused, WriteIndeterminate):
            return 0
        return int(reply) if wait_node == node else 0

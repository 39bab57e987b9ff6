"""A measuring writer: finds the primary through Sentinel's API and writes numbered keys.

Used by ``gungnir demo`` and the failover benchmark, against gungnir's daemons or against
Valkey's own Sentinel: both answer ``SENTINEL GET-MASTER-ADDR-BY-NAME``, so the same writer
measures both.  Each write is a distinct key, one in flight at a time; a write counts as
acknowledged only when the ``SET`` returned OK.  On any error the writer drops its
connection, asks the sentinels (in turn) where the primary is, and tries again.

The result answers the two questions a failover must be judged by: how long no write was
acknowledged (from the kill to the first acknowledged write on the new primary), and how many
acknowledged writes the new primary does not hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gungnir.client import Connection, connect

__all__ = ["Ack", "Writer", "count_lost"]

Address = tuple[str, int]


@dataclass(frozen=True)
class Ack:
    key: int
    at: float
    node: Address


@dataclass
class Writer:
    sentinels: Sequence[Address]
    group: str
    prefix: str = "w"
    interval: float = 0.002
    timeout: float = 0.25
    max_writes: int = 200_000
    acks: list[Ack] = field(default_factory=list)
    errors: int = 0
    attempts: int = 0
    #: When a write attempt failed (error, timeout, or no primary to connect to): the red
    #: side of the failover timeline plot.  Bounded like ``acks`` by ``max_writes``.
    failures: list[float] = field(default_factory=list)
    _stop: bool = False

    async def _primary(self) -> Address | None:
        for addr in self.sentinels:
            try:
                conn = await connect(*addr, connect_timeout=self.timeout, protocol=2)
            except Exception:
                continue
            try:
                reply = await conn.execute(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.group, timeout=self.timeout
                )
                if reply:
                    return reply[0].decode(), int(reply[1])
            except Exception:
                continue
            finally:
                conn.close()
        return None

    async def run(self) -> None:
        """Write until :meth:`stop` (or ``max_writes`` attempts)."""
        conn: Connection | None = None
        node: Address | None = None
        while not self._stop and self.attempts < self.max_writes:
            if conn is None:
                node = await self._primary()
                if node is not None:
                    with contextlib.suppress(Exception):
                        conn = await connect(
                            *node, connect_timeout=self.timeout, command_timeout=self.timeout
                        )
                if conn is None:
                    self.attempts += 1  # a failed attempt: no primary known or reachable
                    self.failures.append(time.monotonic())
                    await asyncio.sleep(self.interval)  # retry pacing, no condition to await
                    continue
            key = self.attempts
            self.attempts += 1
            try:
                await conn.execute("SET", f"{self.prefix}:{key}", str(key))
            except Exception:
                self.errors += 1
                self.failures.append(time.monotonic())
                conn.close()
                conn = None
                continue
            assert node is not None
            self.acks.append(Ack(key, time.monotonic(), node))
            await asyncio.sleep(self.interval)  # write pacing
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._stop = True

    def first_ack_after(self, t: float, not_on: Address | None = None) -> Ack | None:
        for a in self.acks:
            if a.at > t and a.node != not_on:
                return a
        return None

    def last_ack_before(self, t: float) -> Ack | None:
        last = None
        for a in self.acks:
            if a.at <= t:
                last = a
        return last


async def count_lost(node: Address, prefix: str, acks: Sequence[Ack]) -> int:
    """How many acknowledged keys ``node`` does not hold."""
    conn = await connect(*node, command_timeout=10.0)
    try:
        lost = 0
        keys = [f"{prefix}:{a.key}" for a in acks]
        for i in range(0, len(keys), 1000):
            chunk = keys[i : i + 1000]
            replies = await conn.execute("MGET", *chunk)
            lost += sum(1 for r in replies if r is None)
        return lost
    finally:
        conn.close()

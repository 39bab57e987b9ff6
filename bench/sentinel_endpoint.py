"""A stand-alone gungnir Sentinel endpoint over a fixed topology, for the endpoint benchmark.

Runs in its own process (as the daemon would), on uvloop, so the benchmark client and the
server never share a GIL::

    python bench/sentinel_endpoint.py GROUP PRIMARY_HOST:PORT REPLICA_HOST:PORT...

Prints ``READY <port>`` once listening; stops on SIGTERM or when stdin closes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import uvloop

from gungnir.runtime.resp_server import RespServer
from gungnir.runtime.sentinel import (
    PrimaryState,
    ReplicaState,
    SentinelPeerState,
    SentinelService,
    SentinelView,
)


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


class StaticView(SentinelView):
    def __init__(self, group: str, primary: tuple[str, int], replicas: list[tuple[str, int]]):
        self.group = group
        self._primary = PrimaryState(group=group, host=primary[0], port=primary[1], quorum=2)
        self._replicas = [
            ReplicaState(host=h, port=p, master_host=primary[0], master_port=primary[1])
            for h, p in replicas
        ]

    def my_id(self) -> str:
        return "0" * 40

    def group_names(self) -> Sequence[str]:
        return [self.group]

    def primary(self, group: str) -> PrimaryState | None:
        return self._primary if group == self.group else None

    def replicas(self, group: str) -> Sequence[ReplicaState]:
        return self._replicas if group == self.group else []

    def sentinels(self, group: str) -> Sequence[SentinelPeerState]:
        return []

    def failover(self, group: str) -> None:
        return None


async def main(argv: list[str]) -> None:
    group, primary, *replicas = argv
    server = RespServer()
    SentinelService(StaticView(group, _addr(primary), [_addr(r) for r in replicas])).install(server)
    port = await server.start("127.0.0.1", 0)
    print(f"READY {port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await server.close()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1:]))

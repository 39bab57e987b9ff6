"""A daemon cut off from a majority of its peers tells Sentinel clients to ask someone else.

Three in-process daemons watch a real local group.  Daemon d1 is partitioned from d2 and d3
(its peer links, both ways, point at a port that refuses connections; the Valkey nodes stay
reachable by everyone), so d1 fences the primary it still sees (design rule 7) while the
majority carries on and switches the group over.  With d1 listed FIRST, redis-py's and
valkey-py's ``Sentinel.discover_master`` must skip it and return the majority's primary; once the
partition heals d1 answers normally again and keeps its place at the front.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from redis.sentinel import Sentinel
from valkey.sentinel import Sentinel as ValkeySentinel

from gungnir.local import start_group
from gungnir.runtime.cluster import InProcessCluster, cluster_docs

from .support import nodes_of, until

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@contextmanager
def refusing_port() -> Iterator[tuple[str, int]]:
    """A bound, never-listening socket: connecting to it is refused, and no one else can take
    the port while the partition lasts."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    try:
        yield s.getsockname()
    finally:
        s.close()


def cut(c: InProcessCluster, alone: str, dead: tuple[str, int]) -> dict[tuple[str, str], object]:
    """Point every peer link between ``alone`` and the others at ``dead``; return what to
    restore.  Each live connection is closed so the link notices at once."""
    saved = {}
    for name, d in c.daemons.items():
        for peer, link in d.links.items():
            if alone in (name, peer):
                saved[(name, peer)] = link.address
                link.address = dead
                if link._conn is not None:
                    link._conn.close()
    return saved


def heal(c: InProcessCluster, saved: dict[tuple[str, str], object]) -> None:
    for (name, peer), address in saved.items():
        c.daemons[name].links[peer].address = address  # type: ignore[assignment]


def test_isolated_daemon_is_skipped_by_sentinel_clients_and_rejoins(tmp_path):
    async def main():
        with start_group(replicas=2) as g, refusing_port() as dead:
            address = {n.name: n.address for n in g.nodes}
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await until(
                    lambda: (
                        c.primaries() == {"node-0"}
                        and all(x.up for d in c.daemons.values() for x in d.links.values())
                    ),
                    10,
                    "daemons to agree on node-0 with every peer link up",
                )
                loop = asyncio.get_running_loop()

                def blocking(fn, *args):  # redis-py is blocking; the daemons share this loop
                    return loop.run_in_executor(None, fn, *args)

                ports = {name: d.port for name, d in c.daemons.items()}
                d1 = redis.Redis(
                    "127.0.0.1", ports["d1"], socket_timeout=2.0, decode_responses=True
                )
                d2 = redis.Redis("127.0.0.1", ports["d2"], socket_timeout=2.0)

                def d1_state():
                    return d1.sentinel_master("demo"), d1.sentinel_get_master_addr_by_name("demo")

                # Healthy: d1 vouches for node-0.
                state, addr = await blocking(d1_state)
                assert not state["is_sdown"] and state["is_master"]
                assert (addr[0], int(addr[1])) == address["node-0"]

                saved = cut(c, "d1", dead)
                await until(
                    lambda: c.daemons["d1"].groups["demo"].state.minority_fenced,
                    10,
                    "d1 to fence node-0 from the minority side",
                )
                state, addr = await blocking(d1_state)
                assert state["is_sdown"], state["flags"]
                assert not state["is_odown"]  # no quorum agreed on anything: subjective only
                assert addr is None, addr
                info = await blocking(d1.info, "sentinel")
                assert info["master0"]["status"] == "sdown"
                with pytest.raises(redis.ResponseError, match="NOQUORUM"):
                    await blocking(d1.execute_command, "SENTINEL", "CKQUORUM", "demo")

                # The majority switches the group over while d1 cannot hear about it.
                assert await blocking(d2.sentinel_failover, "demo")
                await until(
                    lambda: (
                        {c.daemons[n].groups["demo"].state.config.primary for n in ("d2", "d3")}
                        - {"node-0", None}
                    ),
                    20,
                    "d2 and d3 to switch over",
                )
                (new,) = {c.daemons[n].groups["demo"].state.config.primary for n in ("d2", "d3")}
                assert c.daemons["d1"].groups["demo"].state.config.primary == "node-0"

                order = [("127.0.0.1", ports[n]) for n in ("d1", "d2", "d3")]

                def discover(kind=Sentinel) -> tuple[tuple[str, int], int]:
                    s = kind(order, socket_timeout=2.0)
                    found = s.discover_master("demo")
                    front = s.sentinels[0].connection_pool.connection_kwargs["port"]
                    return found, front

                for kind in (Sentinel, ValkeySentinel):
                    found, front = await blocking(discover, kind)
                    assert found == address[new], (kind, found, new)
                    assert front != ports["d1"], f"{kind} kept the isolated daemon at the front"

                # Heal: d1 learns the new config and answers normally again.
                heal(c, saved)
                await until(
                    lambda: (
                        c.daemons["d1"].groups["demo"].state.config.primary == new
                        and not c.daemons["d1"].groups["demo"].state.minority_fenced
                        and all(x.up for d in c.daemons.values() for x in d.links.values())
                    ),
                    15,
                    "d1 to rejoin and adopt the majority's primary",
                )
                state, addr = await blocking(d1_state)
                assert not state["is_sdown"], state["flags"]
                assert (addr[0], int(addr[1])) == address[new]
                for kind in (Sentinel, ValkeySentinel):
                    found, front = await blocking(discover, kind)
                    assert found == address[new], (kind, found, new)
                    assert front == ports["d1"], f"{kind}: the rejoined daemon answers first"

    asyncio.run(main())

"""A daemon's ±sdown events for a replica carry Sentinel's full payload.

Sentinel publishes a replica's subjective down as
``slave <ip>:<port> <ip> <port> @ <group> <primary ip> <primary port>`` (the shape
``tests/runtime/test_sentinel.py`` checks against a real Sentinel); tools that parse the
``@`` suffix to find the group must get it from gungnir too.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import redis.asyncio

from gungnir.local import start_group
from gungnir.runtime.cluster import InProcessCluster, cluster_docs

from .support import nodes_of, until

pytestmark = pytest.mark.slow

#: Sentinel's instance text for a replica (sentinel.c's sentinelEvent "%@" form).
REPLICA_EVENT = re.compile(
    r"^slave (?P<name>\S+):(?P<nport>\d+) (?P<ip>\S+) (?P<port>\d+) "
    r"@ (?P<group>\S+) (?P<mip>\S+) (?P<mport>\d+)$"
)


def test_replica_sdown_payload_names_the_group_and_its_primary(tmp_path: Any) -> None:
    async def main() -> tuple[list[tuple[str, str]], str]:
        with start_group(replicas=2) as g:
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await until(lambda: c.primaries() == {"node-0"}, 15, "bootstrap")
                sub = redis.asyncio.Redis(port=c.daemons["d1"].port).pubsub()
                await sub.subscribe("+sdown", "-sdown")
                seen: list[tuple[str, str]] = []

                async def collect(channel: str) -> None:
                    while not any(ch == channel for ch, _ in seen):
                        msg = await sub.get_message(ignore_subscribe_messages=True, timeout=1)
                        if msg is not None:
                            seen.append((msg["channel"].decode(), msg["data"].decode()))

                replica = g.replicas[0]
                replica.stop()
                await asyncio.wait_for(collect("+sdown"), 15)
                replica.restart()
                await asyncio.wait_for(collect("-sdown"), 15)
                await sub.aclose()
                expected = (
                    f"slave {replica.host}:{replica.port} {replica.host} {replica.port} "
                    f"@ demo {g.primary.host} {g.primary.port}"
                )
                return [(ch, data) for ch, data in seen if data.startswith("slave")], expected

    events, expected = asyncio.run(asyncio.wait_for(main(), 60))
    assert ("+sdown", expected) in events
    assert ("-sdown", expected) in events
    for _, payload in events:
        m = REPLICA_EVENT.match(payload)
        assert m is not None, payload
        assert m["group"] == "demo"
        assert (m["name"], m["nport"]) == (m["ip"], m["port"])

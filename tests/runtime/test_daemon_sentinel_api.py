"""Applications follow a gungnir failover with an unmodified Sentinel client (redis-py)."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest
import redis
from redis.sentinel import Sentinel

from gungnir.local import start_group
from gungnir.runtime.cluster import InProcessCluster, cluster_docs

from .support import nodes_of, until

pytestmark = pytest.mark.slow


def test_redis_py_sentinel_client_follows_failover_and_switchover(tmp_path):
    async def main():
        with start_group(replicas=2) as g:
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await until(
                    lambda: (
                        c.primaries() == {"node-0"}
                        and all(x.up for d in c.daemons.values() for x in d.links.values())
                    ),
                    10,
                    "bootstrap",
                )
                addrs = [("127.0.0.1", d.port) for d in c.daemons.values()]
                loop = asyncio.get_running_loop()

                def blocking_client_checks() -> list[str]:
                    sentinel = Sentinel(addrs, socket_timeout=1.0)
                    assert sentinel.discover_master("demo") == g.primary.address
                    assert len(sentinel.discover_slaves("demo")) == 2
                    events: list[str] = []
                    ps = redis.Redis(*addrs[1], socket_timeout=1.0).pubsub()
                    ps.subscribe("+switch-master")
                    ps.get_message(timeout=1.0)  # the subscribe confirmation
                    got = threading.Event()

                    def listen() -> None:
                        for _ in range(200):
                            m = ps.get_message(timeout=0.1)
                            if m and m["type"] == "message":
                                events.append(m["data"].decode())
                                got.set()
                                return

                    t = threading.Thread(target=listen)
                    t.start()
                    g.primary.kill(signal.SIGKILL)
                    t.join(25)
                    assert got.is_set(), "no +switch-master event"
                    return events

                events = await loop.run_in_executor(None, blocking_client_checks)
                (new,) = await until(
                    lambda: c.primaries() if len(c.primaries()) == 1 else None, 5, "agreement"
                )
                new_addr = nodes_of(g)[new]
                host, port = g.primary.address
                assert events[0] == f"demo {host} {port} {new_addr[0]} {new_addr[1]}"

                def discover() -> tuple[str, int]:
                    return Sentinel(addrs, socket_timeout=1.0).discover_master("demo")

                assert await loop.run_in_executor(None, discover) == new_addr

                # SENTINEL FAILOVER starts a manual switchover, as with Sentinel.
                reply = await loop.run_in_executor(
                    None,
                    lambda: redis.Redis(*addrs[0]).execute_command("SENTINEL FAILOVER", "demo"),
                )
                assert reply in (True, b"OK")
                await until(
                    lambda: len(c.primaries()) == 1 and c.primaries() != {new},
                    20,
                    "the switchover to move the primary again",
                )

    asyncio.run(main())

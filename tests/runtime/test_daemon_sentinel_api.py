"""Applications follow a gungnir failover with an unmodified Sentinel client (redis-py)."""

from __future__ import annotations

import asyncio
import re
import signal
import threading

import coredis
import pytest
import redis
import redis.asyncio
from redis.sentinel import Sentinel

import gungnir
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


def test_coredis_sees_one_version_and_ids_unique_per_deployment(tmp_path):
    """coredis gates SENTINEL MYID and CONFIG GET on HELLO's version (6.2+): it must agree
    with INFO's redis_version.  Run ids are per deployment: two deployments whose daemons
    are both named d1..d3 report different ids, and a restarted daemon keeps its id."""

    async def ids_of(c: InProcessCluster) -> dict[str, str]:
        ids, listed = {}, {}
        for name, d in c.daemons.items():
            async with coredis.Redis("127.0.0.1", d.port, decode_responses=True) as client:
                ids[name] = await client.sentinel_myid()
                config = await client.sentinel_config_get("*")
                assert config["resolve-hostnames"] == "no" and config["sentinel-pass"] == ""
                info = await client.info("server")
                # coredis read HELLO's version and let MYID and CONFIG GET through on it
                assert str(client.server_version) == str(info["redis_version"])
                assert info["server_mode"] == "sentinel"
                raw = redis.asyncio.Redis(port=d.port, protocol=3)
                hello = await raw.execute_command("HELLO", "3")
                await raw.aclose()
                assert hello[b"version"] == str(info["redis_version"]).encode()
                assert hello[b"gungnir_version"] == gungnir.__version__.encode()
                assert str(info["gungnir_version"]) == gungnir.__version__
                peers = await client.sentinel_sentinels("demo")
                listed[name] = {p["runid"] for p in peers}
        for name in ids:  # every daemon renders its peers' ids as they do themselves
            assert listed[name] == {v for k, v in ids.items() if k != name}
        return ids

    async def main() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        with start_group(replicas=2) as g:
            nodes = nodes_of(g)
            runs = []
            for i, secret in enumerate(["first-deployment", "second-deployment", None]):
                docs = cluster_docs(nodes, tmp_path / str(i), secret=secret or "first-deployment")
                async with InProcessCluster(docs) as c:
                    await until(lambda c=c: c.primaries() == {"node-0"}, 10, "bootstrap")
                    runs.append(await ids_of(c))
            return runs[0], runs[1], runs[2]

    first, second, again = asyncio.run(main())
    assert all(re.fullmatch(r"[0-9a-f]{40}", v) for v in first.values())
    assert len(set(first.values())) == 3
    assert not set(first.values()) & set(second.values())
    assert first == again  # the same deployment restarted: the same ids

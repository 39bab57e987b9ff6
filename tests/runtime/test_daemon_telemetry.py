"""The daemon's metrics endpoint and logs reflect what it sees (real group, one daemon)."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from gungnir.local import start_group
from gungnir.runtime.cluster import InProcessCluster, cluster_docs
from gungnir.runtime.logs import setup_logging

from .support import nodes_of, until

pytestmark = pytest.mark.slow


async def http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def test_metrics_health_and_json_logs(tmp_path):
    stream = io.StringIO()
    setup_logging("json", "INFO", stream=stream)

    async def main():
        with start_group(replicas=1) as g:
            docs = cluster_docs(nodes_of(g), tmp_path)
            for d in docs:
                d["daemon"]["metrics_bind"] = "127.0.0.1:0"
            async with InProcessCluster(docs) as c:
                d1 = c.daemons["d1"]
                await until(
                    lambda: c.primaries() == {"node-0"} and all(x.up for x in d1.links.values()),
                    10,
                    "bootstrap with every peer up",
                )
                await until(
                    lambda: all(ok for _, ok, _ in d1.groups["demo"].state.peers),
                    10,
                    "the core to see the peers up",
                )
                code, body = await http_get(d1.metrics_port, "/readyz")
                assert code == 200
                code, body = await http_get(d1.metrics_port, "/metrics")
                assert code == 200
                assert 'gungnir_node_up{group="demo",node="node-1"} 1.0' in body
                assert 'gungnir_peers_reachable{group="demo"} 2.0' in body
                g.replicas[0].kill()
                await until(lambda: "node-1" in d1.groups["demo"].state.sdown, 10, "replica sdown")

    try:
        asyncio.run(main())
    finally:
        logging.getLogger("gungnir").handlers.clear()
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert any(x.get("peer") == "d2" and "up" in x["msg"] for x in lines)
    assert all({"ts", "level", "logger", "msg"} <= set(x) for x in lines)
    events = [x for x in lines if "event" in x]
    assert events, "no failover-path line was logged"
    assert all(x["group"] == "demo" and isinstance(x["epoch"], int) for x in events)

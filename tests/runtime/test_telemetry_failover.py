"""The metrics the telemetry feeds get real samples through a real in-process failover.

Three daemons, a real Valkey group, each daemon's own ``/metrics`` scraped over HTTP and
parsed with prometheus-client's parser: the leader series, fenced nodes, replication lag in
bytes, the last successful reconcile, the failover phase histogram and refused peers.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gungnir.client import connect
from gungnir.local import start_group
from gungnir.runtime.cluster import InProcessCluster, cluster_docs
from gungnir.runtime.metrics import FAILOVER_PHASES

from .support import nodes_of, until

pytestmark = pytest.mark.slow

GROUP = "demo"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int) -> Samples:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    assert head.split()[1] == "200", head
    out: Samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = float(s.value)
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    want = set(labels.items())
    for (n, lab), v in samples.items():
        if n == name and want <= set(lab):
            return v
    return None


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {lab: v for (n, lab), v in samples.items() if n == name}


async def refused_attempts(port: int) -> None:
    """An unknown daemon name, then a message without authenticating."""
    conn = await connect("127.0.0.1", port, connect_timeout=2, command_timeout=2)
    try:
        await conn.execute("GUNGNIR.NONCE")
        with pytest.raises(Exception, match="unknown peer"):
            await conn.execute("GUNGNIR.AUTH", "mallory", "00" * 32)
    finally:
        conn.close()
    conn = await connect("127.0.0.1", port, connect_timeout=2, command_timeout=2)
    try:
        with pytest.raises(Exception, match="not an authenticated peer"):
            await conn.execute("GUNGNIR.MSG", "{}")
    finally:
        conn.close()


def test_failover_feeds_every_safety_and_phase_series(tmp_path: Any) -> None:
    async def main() -> None:
        with start_group(replicas=2) as g:
            docs = cluster_docs(nodes_of(g), tmp_path)
            for d in docs:
                d["daemon"]["metrics_bind"] = "127.0.0.1:0"
            started = time.time()
            async with InProcessCluster(docs) as c:
                await until(lambda: c.primaries() == {"node-0"}, 15, "bootstrap")
                for i in range(200):  # offsets well above zero
                    g.primary.command("SET", f"k{i}", "x" * 100)
                ports = {n: d.metrics_port for n, d in c.daemons.items()}

                # Lag in bytes: the primary's offset minus each following replica's, exactly
                # as this daemon last saw them (both gauges come from the same probes).
                async def lag_consistent() -> bool:
                    s = await scrape(ports["d1"])
                    p = value(s, "gungnir_node_replication_offset_bytes", node="node-0")
                    if p is None or p < 10_000:
                        return False
                    for r in ("node-1", "node-2"):
                        lag = value(s, "gungnir_node_replication_lag_bytes", node=r)
                        off = value(s, "gungnir_node_replication_offset_bytes", node=r)
                        if lag is None or off is None or lag != max(0.0, p - off):
                            return False
                    return True

                deadline = time.monotonic() + 10
                while not await lag_consistent():
                    assert time.monotonic() < deadline, "lag_bytes never matched the offsets"
                    await asyncio.sleep(0.05)  # polling period of a condition with a deadline

                # A successful reconcile pass is recorded with a wall-clock time.
                s = await scrape(ports["d2"])
                ts = value(s, "gungnir_last_reconcile_success_timestamp_seconds", group=GROUP)
                assert ts is not None and started <= ts <= time.time()
                age = value(s, "gungnir_time_since_last_reconcile_seconds", group=GROUP)
                assert age is not None and 0 <= age < 5
                assert value(s, "gungnir_fenced_nodes", group=GROUP) == 0
                assert not series(s, "gungnir_leader_info")  # epoch 0: nobody led it

                await refused_attempts(c.daemons["d3"].port)
                s = await scrape(ports["d3"])
                assert value(s, "gungnir_peer_refused_total", reason="unknown_peer") == 1
                assert value(s, "gungnir_peer_refused_total", reason="unauthenticated") == 1

                g.primary.kill(signal.SIGKILL)
                await until(
                    lambda: len(c.primaries()) == 1 and c.primaries() != {"node-0"},
                    20,
                    "failover",
                )
                # The new primary takes writes before its leader has finished the failover
                # (repointing the others, publishing), which is when success is counted.
                samples: dict[str, Any] = {}
                leaders: list[str] = []
                for _ in range(200):
                    samples = {n: await scrape(p) for n, p in ports.items()}
                    leaders = [
                        n
                        for n, s in samples.items()
                        if value(s, "gungnir_failovers_total", outcome="success")
                    ]
                    if leaders:
                        break
                    await asyncio.sleep(0.05)  # a scrape every 50 ms, 10 s at most
                assert len(leaders) == 1, leaders
                (leader,) = leaders
                s = samples[leader]
                for phase in FAILOVER_PHASES:
                    n = value(s, "gungnir_failover_phase_duration_seconds_count", phase=phase)
                    assert n == 1, (phase, n)
                phase_sum = sum(
                    value(s, "gungnir_failover_phase_duration_seconds_sum", phase=p) or 0
                    for p in FAILOVER_PHASES
                )
                whole = value(s, "gungnir_failover_duration_seconds_sum", group=GROUP)
                assert whole is not None and 0 < phase_sum <= whole + 1e-6
                # detection spans sdown -> odown: at least the time to gather reports, and
                # less than the whole failover.
                det = value(s, "gungnir_failover_phase_duration_seconds_sum", phase="detection")
                assert det is not None and 0 <= det < whole

                # Every daemon names the leader of the new epoch, learned from its announce.
                async def all_name_leader() -> bool:
                    for p in ports.values():
                        got = series(await scrape(p), "gungnir_leader_info")
                        if got != {frozenset({("group", GROUP), ("leader", leader)}): 1.0}:
                            return False
                    return True

                deadline = time.monotonic() + 10
                while not await all_name_leader():
                    assert time.monotonic() < deadline, "leader_info never named the leader"
                    await asyncio.sleep(0.05)  # polling period of a condition with a deadline
                for s in samples.values():
                    assert value(s, "gungnir_fenced_nodes", group=GROUP) is not None

    asyncio.run(asyncio.wait_for(main(), 90))

"""Drift made behind the daemons' back, on real processes: they converge and say so.

An operator (or a script) swaps the roles by hand: the config's primary becomes a replica of
another node, which is promoted.  Clients are routed by the config, so until the daemons act
every write gets READONLY.  The daemons must bring the group back to one primary that the
config names, and record what they did.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from gungnir.local import start_group
from gungnir.runtime.cluster import FAST, InProcessCluster, cluster_docs

from .support import check_decision_logs, master_port, nodes_of, until

pytestmark = pytest.mark.slow


def _masters(group) -> set[str]:
    out = set()
    for n in group.nodes:
        try:
            if n.info().get("role") == "master":
                out.add(n.name)
        except Exception:  # a node between roles may refuse a connection; poll again
            continue
    return out


@pytest.mark.parametrize("policy", ["availability", "consistency"])
def test_manual_role_swap_is_repaired_and_recorded(tmp_path, policy):
    async def main():
        with start_group(replicas=2) as g:
            settings = dict(FAST, policy=policy, min_replicas_max_lag=1.0)
            docs = cluster_docs(nodes_of(g), tmp_path, settings=settings)
            async with InProcessCluster(docs) as c:
                await until(lambda: c.primaries() == {"node-0"}, 10, "bootstrap")
                notices: list[tuple[str, str]] = []
                for d in c.daemons.values():
                    d.on_notify = lambda _g, ev, detail: notices.append((ev, detail))
                node2 = next(n for n in g.nodes if n.name == "node-2")
                await until(lambda: master_port(node2) == g.primary.port, 10, "node-2 linked")
                g.primary.replicaof(node2)
                node2.replicaof(None)
                assert _masters(g) == {"node-2"}

                def converged():
                    (p,) = c.primaries() if len(c.primaries()) == 1 else (None,)
                    if p is None or _masters(g) != {p}:
                        return None
                    primary = next(n for n in g.nodes if n.name == p)
                    others = [n for n in g.nodes if n.name != p]
                    return p if all(master_port(n) == primary.port for n in others) else None

                p = await until(converged, 15, "one primary, routed to, followed by the rest")
                assert p == "node-0"  # the config stays authoritative: no epoch was needed
                assert g.primary.command("SET", "k", "v") in (b"OK", "OK")
                said = [detail for ev, detail in notices if ev == "+drift-corrected"]
                assert any("repoint node-2 -> node-0" in x for x in said), notices
                assert any("promote node-0" in x for x in said), notices

        records = []
        for d in ("d1", "d2", "d3"):
            for line in (tmp_path / d / "decisions.jsonl").read_text().splitlines():
                records.append(json.loads(line))
        assert any(r["kind"] == "promoted" and r["node"] == "node-0" for r in records)
        assert any(r["kind"] == "repointed" and r["node"] == "node-2" for r in records)
        report = check_decision_logs(tmp_path)
        assert report.ok, report.summary()

    asyncio.run(main())


def test_a_replica_promoted_by_hand_and_a_dropped_write_quorum_are_repaired(tmp_path):
    async def main():
        with start_group(replicas=2) as g:
            settings = dict(FAST, policy="consistency", min_replicas_max_lag=1.0)
            docs = cluster_docs(nodes_of(g), tmp_path, settings=settings)
            async with InProcessCluster(docs) as c:
                await until(lambda: c.primaries() == {"node-0"}, 10, "bootstrap")

                def quorum():
                    return g.primary.command("CONFIG", "GET", "min-replicas-to-write")[1]

                await until(lambda: quorum() == b"1", 10, "the write quorum")
                notices: list[str] = []
                for d in c.daemons.values():
                    d.on_notify = lambda _g, ev, detail: notices.append(f"{ev} {detail}")
                node2 = next(n for n in g.nodes if n.name == "node-2")
                node2.replicaof(None)
                g.primary.command("CONFIG", "SET", "min-replicas-to-write", "0")
                await until(
                    lambda: master_port(node2) == g.primary.port and quorum() == b"1",
                    15,
                    "node-2 to follow node-0 again and the write quorum to be restored",
                )
                assert _masters(g) == {"node-0"} and c.primaries() == {"node-0"}
                said = " | ".join(n for n in notices if n.startswith("+drift-corrected"))
                assert "repoint node-2 -> node-0" in said, notices
                assert "min-replicas-to-write 1 on node-0" in said, notices

        assert check_decision_logs(tmp_path).ok

    asyncio.run(main())

"""Three in-process daemons against real valkey-server processes on loopback."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest

from gungnir.local import start_group
from gungnir.runtime.cluster import InProcessCluster, cluster_docs

from .support import check_decision_logs, master_port, nodes_of, until

pytestmark = pytest.mark.slow


def by_name(group, name):
    return next(n for n in group.nodes if n.name == name)


async def _bootstrapped(c: InProcessCluster, primary: str = "node-0") -> None:
    await until(lambda: c.primaries() == {primary}, 10, f"every daemon to see {primary}")
    await until(
        lambda: all(
            all(ok for _, ok, _ in next(iter(d.groups.values())).state.peers)
            for d in c.daemons.values()
        ),
        10,
        "every peer link up",
    )
    # a first start is amnesiac (no state file): no vote until every other voter answered
    await until(
        lambda: all(
            next(iter(d.groups.values())).state.amnesia is None for d in c.daemons.values()
        ),
        10,
        "every daemon to know its epoch",
    )


def test_sigkill_primary_fails_over_and_old_primary_rejoins(tmp_path):
    async def main():
        with start_group(replicas=2) as g:
            docs = cluster_docs(nodes_of(g), tmp_path)
            async with InProcessCluster(docs) as c:
                await _bootstrapped(c)
                g.primary.kill(signal.SIGKILL)
                await until(
                    lambda: len(c.primaries()) == 1 and c.primaries() != {"node-0"},
                    15,
                    "one new primary agreed by all daemons",
                )
                (new,) = c.primaries()
                new_node = by_name(g, new)
                assert new_node.info()["role"] == "master"
                others = [n for n in g.replicas if n.name != new]
                await until(
                    lambda: all(master_port(n) == new_node.port for n in others),
                    10,
                    "the other replica to follow the new primary",
                )
                g.primary.start()  # back, empty, on the same port, claiming to be primary
                await until(
                    lambda: master_port(g.primary) == new_node.port,
                    15,
                    "the old primary to rejoin as a replica",
                )
                assert new_node.info()["role"] == "master"
                assert c.primaries() == {new}

        for d in ("d1", "d2", "d3"):
            lines = (tmp_path / d / "decisions.jsonl").read_text().splitlines()
            kinds = [json.loads(x)["kind"] for x in lines]
            assert kinds[0] == "header"
        report = check_decision_logs(tmp_path)
        assert report.ok, report.summary()
        assert report.leaders >= 1 and report.configs >= 1

    asyncio.run(main())


def test_consistency_policy_fails_over_with_write_quorum_and_no_loss(tmp_path):
    from gungnir.runtime.cluster import FAST
    from gungnir.runtime.writer import Writer, count_lost

    async def main():
        with start_group(replicas=2) as g:
            settings = dict(FAST, policy="consistency", min_replicas_max_lag=1.0)
            docs = cluster_docs(nodes_of(g), tmp_path, settings=settings)
            async with InProcessCluster(docs) as c:
                await _bootstrapped(c)

                def quorum_of(node):
                    return node.command("CONFIG", "GET", "min-replicas-to-write")[1]

                await until(lambda: quorum_of(g.primary) == b"1", 10, "the write quorum")
                w = Writer([("127.0.0.1", d.port) for d in c.daemons.values()], "demo", "c")
                task = asyncio.get_running_loop().create_task(w.run())
                await until(lambda: len(w.acks) > 100, 10, "writes before the kill")
                old = g.primary.address
                t_kill = time.monotonic()
                g.primary.kill(signal.SIGKILL)
                await until(lambda: w.first_ack_after(t_kill, not_on=old), 20, "a new primary")
                w.stop()
                await task
                first = w.first_ack_after(t_kill, not_on=old)
                assert await count_lost(first.node, "c", w.acks) == 0
                (new,) = c.primaries()
                assert quorum_of(by_name(g, new)) == b"1"
                # The lease (min-replicas-max-lag 1 + margin 0.5 + drift 0.1) was waited out.
                assert first.at - t_kill >= FAST["down_after"] - FAST["probe_interval"] + 1.5

        assert check_decision_logs(tmp_path).ok

    asyncio.run(main())


def test_observer_daemon_follows_but_never_votes(tmp_path):
    from gungnir.runtime.cluster import FAST

    async def main():
        with start_group(replicas=2) as g:
            settings = dict(FAST, voters=["d1", "d2", "d3"])
            docs = cluster_docs(nodes_of(g), tmp_path, daemons=4, settings=settings)
            async with InProcessCluster(docs) as c:
                await _bootstrapped(c)
                assert not c.daemons["d4"].groups["demo"].state.is_voter
                g.primary.kill(signal.SIGKILL)
                await until(
                    lambda: len(c.primaries()) == 1 and c.primaries() != {"node-0"},
                    15,
                    "all four daemons (three voters, one observer) to agree on a new primary",
                )
        lines = (tmp_path / "d4" / "decisions.jsonl").read_text().splitlines()
        kinds = {json.loads(x)["kind"] for x in lines}
        assert "vote_granted" not in kinds and "leader_elected" not in kinds
        assert check_decision_logs(tmp_path).ok

    asyncio.run(main())


def test_switchover_with_valkeys_failover_command(tmp_path):
    from gungnir.core import Switchover

    async def main():
        with start_group(replicas=2) as g:
            for i in range(100):
                g.primary.command("SET", f"k{i}", "v")
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await _bootstrapped(c)
                c.daemons["d2"].submit(
                    "demo", Switchover(target="node-2", use_failover_command=True)
                )
                await until(lambda: c.primaries() == {"node-2"}, 15, "node-2 to take over")
                new = by_name(g, "node-2")
                assert new.info()["role"] == "master"
                assert new.command("DBSIZE") == 100
                await until(
                    lambda: master_port(g.primary) == new.port,
                    10,
                    "the old primary to follow node-2",
                )

        assert check_decision_logs(tmp_path).ok

    asyncio.run(main())

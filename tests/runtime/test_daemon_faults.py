"""Failure cases with three in-process daemons and real valkey-server processes."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from gungnir.local import start_group
from gungnir.runtime.cluster import FAST, InProcessCluster, cluster_docs

from .support import check_decision_logs, master_port, nodes_of, until

pytestmark = pytest.mark.slow


def node(group, name):
    return next(n for n in group.nodes if n.name == name)


def agreed_new_primary(c: InProcessCluster, old: str = "node-0"):
    ps = c.primaries()
    return len(ps) == 1 and ps != {old} and None not in ps


async def ready(c: InProcessCluster, primary: str = "node-0") -> None:
    await until(
        lambda: (
            c.primaries() == {primary}
            and all(link.up for d in c.daemons.values() for link in d.links.values())
        ),
        10,
        "daemons to agree on the primary with every peer link up",
    )


def run(coro):
    asyncio.run(coro)


def test_sigstop_primary_fails_over_and_resumed_primary_is_demoted(tmp_path):
    async def main():
        with start_group(replicas=2) as g:
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await ready(c)
                g.primary.kill(signal.SIGSTOP)  # hung, not dead: connections stay open
                try:
                    await until(lambda: agreed_new_primary(c), 15, "a failover of the hung node")
                finally:
                    g.primary.kill(signal.SIGCONT)
                (new,) = c.primaries()
                port = node(g, new).port
                await until(
                    lambda: master_port(g.primary) == port,
                    15,
                    "the resumed old primary to be demoted to a replica of the new one",
                )
                assert node(g, new).info()["role"] == "master"
        assert check_decision_logs(tmp_path).ok

    run(main())


def test_empty_restart_within_down_after_is_never_primary_over_data(tmp_path):
    async def main():
        with start_group(replicas=2) as g:
            for i in range(200):
                g.primary.command("SET", f"k{i}", "v")
            assert g.primary.command("WAIT", "2", "5000") == 2
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await ready(c)
                g.primary.kill(signal.SIGKILL)
                g.primary.start()  # back at once, empty, well within down_after
                assert g.primary.command("DBSIZE") == 0
                await until(lambda: agreed_new_primary(c), 15, "a replica to replace it")
                (new,) = c.primaries()
                assert new != "node-0"
                assert node(g, new).command("DBSIZE") == 200
                await until(
                    lambda: master_port(g.primary) == node(g, new).port,
                    15,
                    "the empty node to become a replica",
                )
                await until(
                    lambda: g.primary.command("DBSIZE") == 200, 15, "it to sync the data back"
                )
        assert check_decision_logs(tmp_path).ok

    run(main())


def test_one_daemon_down_still_fails_over(tmp_path):
    async def main():
        with start_group(replicas=2) as g:
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await ready(c)
                await c.stop_one("d3")
                g.primary.kill(signal.SIGKILL)
                await until(lambda: agreed_new_primary(c), 15, "d1 and d2 to fail over")

    run(main())


def test_two_of_three_daemons_down_never_fail_over(tmp_path):
    async def main():
        with start_group(replicas=2) as g:
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await ready(c)
                await c.stop_one("d2")
                await c.stop_one("d3")
                g.primary.kill(signal.SIGKILL)
                d1 = c.daemons["d1"]
                # A negative property: watch a window long enough for several elections
                # (detection + jitter + election timeout, three times over).
                window = 3 * (
                    FAST["down_after"] + FAST["election_jitter"] + FAST["election_timeout"]
                )
                end = time.monotonic() + window
                saw_sdown = False
                while time.monotonic() < end:
                    st = d1.groups["demo"].state
                    saw_sdown = saw_sdown or "node-0" in st.sdown
                    assert st.config.primary == "node-0"
                    assert all(r.info()["role"] == "slave" for r in g.replicas)
                    await asyncio.sleep(0.05)  # sampling period of the invariant
                assert saw_sdown, "d1 never even saw the primary down: the test proves nothing"

    run(main())


class BadNode:
    """A TCP server posing as a Valkey node: garbage, or half a reply and then silence."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> BadNode:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader, writer):
        self.connections += 1
        try:
            while await reader.read(65536):
                if self.mode == "garbage":
                    writer.write(b"\x00\xffNOT RESP AT ALL\r\n$-7\r\n*99999999999\r\n")
                elif self.mode == "stall":
                    writer.write(b"%3\r\n$6\r\nserver\r\n$6\r\nval")  # then nothing, ever
                else:  # "huge": a bulk length far over any limit
                    writer.write(b"$9999999999999\r\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


def test_garbage_and_stalling_nodes_crash_no_daemon(tmp_path):
    async def main():
        bad = [await BadNode(m).start() for m in ("garbage", "stall", "huge")]
        try:
            with start_group(replicas=2) as g:
                nodes = nodes_of(g)
                for b in bad:
                    nodes[f"bad-{b.mode}"] = ("127.0.0.1", b.port)
                settings = dict(FAST, initial_primary="node-0")
                docs = cluster_docs(nodes, tmp_path, settings=settings)
                async with InProcessCluster(docs) as c:
                    await until(
                        lambda: all(b.connections >= 3 for b in bad),
                        10,
                        "every daemon to probe the bad nodes",
                    )
                    await until(
                        lambda: all(
                            not v.reachable
                            for d in c.daemons.values()
                            for v in d.groups["demo"].state.nodes
                            if v.node.startswith("bad-")
                        ),
                        10,
                        "the bad nodes to count as unreachable",
                    )
                    n = min(b.connections for b in bad)
                    await until(
                        lambda: min(b.connections for b in bad) > n + 3,
                        10,
                        "probes to keep coming (the daemons did not wedge)",
                    )
                    g.primary.kill(signal.SIGKILL)
                    await until(
                        lambda: agreed_new_primary(c), 15, "a failover despite the bad nodes"
                    )
                    assert all(d.failed is None for d in c.daemons.values())
        finally:
            for b in bad:
                await b.close()

    run(main())


def test_two_groups_per_daemon_fail_over_independently(tmp_path):
    async def main():
        with start_group(replicas=2) as a, start_group(replicas=2) as b:
            docs = cluster_docs(nodes_of(a), tmp_path, group="alpha")
            beta = {f"b-{n}": addr for n, addr in nodes_of(b).items()}
            for d in docs:  # the second group, with its own (slower) settings
                d["groups"]["beta"] = {
                    "nodes": {n: f"{h}:{p}" for n, (h, p) in beta.items()},
                    **dict(FAST, down_after=0.8, report_ttl=1.6, promote_after=0.8),
                }
            async with InProcessCluster(docs) as c:

                def primaries(group):
                    return {d.groups[group].state.config.primary for d in c.daemons.values()}

                await until(
                    lambda: primaries("alpha") == {"node-0"} and primaries("beta") == {"b-node-0"},
                    10,
                    "both groups bootstrapped",
                )
                a.primary.kill(signal.SIGKILL)
                await until(
                    lambda: len(primaries("alpha")) == 1 and primaries("alpha") != {"node-0"},
                    15,
                    "alpha to fail over",
                )
                assert primaries("beta") == {"b-node-0"}
                assert b.primary.info()["role"] == "master"
                d1 = c.daemons["d1"]
                assert d1.groups["beta"].state.config.epoch == 0
                assert d1.groups["beta"].settings.down_after == 0.8

    run(main())


def test_failed_persist_stops_the_daemon_before_its_vote_leaves(tmp_path):
    seen: list[tuple[str, object]] = []

    def observer(daemon, group, item, now):
        if daemon == "d1":
            seen.append((daemon, item))

    async def main():
        with start_group(replicas=2) as g:
            c = InProcessCluster(cluster_docs(nodes_of(g), tmp_path), observer=observer)
            await c.start()
            try:
                await ready(c)
                broken = len(seen)  # persists before this (the start's) went through
                state_dir = tmp_path / "d1" / "state"
                if state_dir.exists():
                    for f in state_dir.iterdir():
                        f.unlink()
                    state_dir.rmdir()
                state_dir.parent.mkdir(parents=True, exist_ok=True)
                state_dir.write_text("not a directory")  # every write now fails
                g.primary.kill(signal.SIGKILL)
                d1 = c.daemons["d1"]
                await until(lambda: d1.failed is not None, 15, "d1 to stop on the failed write")
                assert "cannot persist" in str(d1.failed)
                from gungnir.core import Broadcast, Persist, Send

                persists = [
                    i for i, (_, x) in enumerate(seen) if isinstance(x, Persist) and i >= broken
                ]
                assert persists, "d1 never tried to persist: the test proves nothing"
                after = [x for _, x in seen[persists[0] + 1 :] if isinstance(x, Send | Broadcast)]
                assert after == [], "a message left after the failed Persist"
                # The other two daemons are a majority and fail over without d1.
                await until(
                    lambda: (
                        {c.daemons[n].groups["demo"].state.config.primary for n in ("d2", "d3")}
                        - {"node-0"}
                    ),
                    15,
                    "d2 and d3 to fail over",
                )
            finally:
                await c.stop()

    run(main())


def test_isolated_daemon_fences_the_primary_and_unfences_when_peers_return(tmp_path):
    async def main():
        with start_group(replicas=2) as g:
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await ready(c)
                assert g.primary.command("SET", "before", "1") == b"OK"
                await c.stop_one("d2")
                await c.stop_one("d3")

                def refused() -> bool:
                    return "NOREPLICAS" in str(g.primary.command("SET", "during", "1"))

                await until(refused, 10, "the minority daemon to fence the primary")
                reg = c.daemons["d1"].metrics.registry

                def fenced() -> float | None:
                    return reg.get_sample_value("gungnir_fenced_nodes", {"group": "demo"})

                await until(lambda: fenced() == 1, 5, "gungnir_fenced_nodes to show the fence")
                await c.start_one("d2")
                await c.start_one("d3")
                await until(
                    lambda: g.primary.command("SET", "after", "1") == b"OK",
                    15,
                    "the primary to take writes again once a majority is back",
                )
                assert c.primaries() == {"node-0"}
                await until(lambda: fenced() == 0, 5, "gungnir_fenced_nodes back to 0")

    run(main())

"""The "total loss and restore" runbook (docs/runbooks.md), run against real processes.

Every Valkey node loses its data while the daemons keep running; a backup made with ``SAVE``
is put back on one node and the others start empty.  The nodes start fenced, as the docs ask
(``start_fence_lines``: no write and no replica sync before a daemon has vetted the node), so
these also check that the runbook's steps work with that fence.  Three in-process daemons with
the loopback timings (``FAST``), three valkey-server processes without persistence.

* The backup on the node the daemons' config names as primary: they keep it at the same epoch
  and repoint the empty nodes to it.
* The config primary's node cannot be used: it stays down, the backup goes on another node,
  the operator lifts that node's start fence and makes the third its replica; the daemons fail
  over to the synchronised replica in a new epoch, and the config primary's node, started
  empty afterwards, is repointed and gets the data.
* The backup on another node while the config primary runs again, empty: the daemons never
  make the restored node sync from the empty one (the wipe the empty-restart rules exist to
  prevent).  What they do *not* do is adopt the restored node once the operator makes the
  others its replicas: the config keeps naming the old primary, now a replica (reported; the
  runbook steers operators to the two paths above).  Stopping that node gets out of it: a
  failover to a synchronised replica, then the node rejoins.  The test checks all of that
  and ends as an expected failure while the gap remains.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gungnir.faults.daemons import ConfigFileNode
from gungnir.local import ValkeyProcess
from gungnir.runtime.cluster import FAST, InProcessCluster, cluster_docs
from gungnir.runtime.startfence import start_fence_lines

from .support import check_decision_logs, until

pytestmark = pytest.mark.slow

KEYS = 100


def _dbsize(node: ValkeyProcess) -> int:
    try:
        return int(node.command("DBSIZE", timeout=0.5))
    except Exception:
        return -1


def _info(node: ValkeyProcess) -> dict[str, str]:
    try:
        return node.info()
    except Exception:
        return {}


def _follows(replica: ValkeyProcess, primary: ValkeyProcess) -> bool:
    info = _info(replica)
    return (
        info.get("role") == "slave"
        and int(info.get("master_port", 0)) == primary.port
        and info.get("master_link_status") == "up"
    )


def _writable(node: ValkeyProcess) -> bool:
    """The node takes a write (its start fence, min-replicas-to-write, is lifted)."""
    try:
        return bool(node.command("SET", "restore-probe", "1", timeout=0.5) == b"OK")
    except Exception:
        return False


@dataclass
class Setup:
    cluster: InProcessCluster
    nodes: dict[str, ValkeyProcess]
    backup: Path
    saved: int = 0  # keys in the backup

    def configs(self) -> set[tuple[int, str | None]]:
        """(epoch, primary) of the config each daemon holds for the group."""
        return {
            (g.state.config.epoch, g.state.config.primary)
            for d in self.cluster.daemons.values()
            for g in d.groups.values()
        }

    def converged(self, names: tuple[str, ...] = (), keys: int = KEYS) -> str | None:
        """The primary every daemon names, if it takes writes, the other nodes of ``names``
        (default: all) follow it with their links up, and each of them holds ``keys`` keys."""
        nodes = {k: v for k, v in self.nodes.items() if not names or k in names}
        configs = self.configs()
        if len(configs) != 1:
            return None
        ((_, primary),) = configs
        if primary not in nodes or not _writable(nodes[primary]):
            return None
        if not all(_follows(n, nodes[primary]) for k, n in nodes.items() if k != primary):
            return None
        if not all(_dbsize(n) >= keys for n in nodes.values()):
            return None
        return primary

    def kill_all(self) -> None:
        for n in self.nodes.values():
            n.kill(signal.SIGKILL)

    def restore(self, onto: str, keep_down: tuple[str, ...] = ()) -> None:
        """The backup into ``onto``'s data directory and every other node's RDB removed (a
        replica keeps the RDB of its last full sync); start ``onto``, then the others."""
        for name, n in self.nodes.items():
            assert n.workdir is not None
            rdb = n.workdir / f"{name}.rdb"
            rdb.unlink(missing_ok=True)
            if name == onto:
                shutil.copy(self.backup, rdb)
        self.nodes[onto].start()
        for name, n in self.nodes.items():
            if name != onto and name not in keep_down:
                n.start()

    def lift_start_fence_by_hand(self, name: str) -> None:
        """Runbook step: the restored node must serve syncs before replicas can copy it."""
        self.nodes[name].command("ACL", "SETUSER", "default", "+sync", "+psync")


@pytest.fixture
def restore_case(tmp_path: Path) -> Iterator[Any]:
    """Three start-fenced nodes and three daemons bootstrapped on node-0; KEYS keys written,
    on every node, and a ``SAVE``d copy of node-0's RDB as the backup.  Yields a coroutine
    runner so each test body runs on one event loop with the daemons."""
    fence = start_fence_lines()
    nodes: dict[str, ValkeyProcess] = {
        f"node-{i}": ConfigFileNode(conf_lines=fence, name=f"node-{i}") for i in range(3)
    }
    try:
        for n in nodes.values():
            n.start()
        addrs = {name: n.address for name, n in nodes.items()}
        settings = {**FAST, "initial_primary": "node-0"}
        docs = cluster_docs(addrs, tmp_path / "daemons", settings=settings)

        def run(body: Any) -> None:
            async def main() -> None:
                async with InProcessCluster(docs) as cluster:
                    s = Setup(cluster, nodes, tmp_path / "backup.rdb")
                    await until(lambda: s.converged(keys=0) == "node-0", 15, "bootstrap")
                    primary = nodes["node-0"]
                    for i in range(KEYS):
                        primary.command("SET", f"k{i}", f"v{i}")
                    assert primary.command("WAIT", "2", "5000") == 2
                    assert primary.command("SAVE") == b"OK"
                    s.saved = _dbsize(primary)
                    assert s.saved >= KEYS
                    assert primary.workdir is not None
                    shutil.copy(primary.workdir / "node-0.rdb", s.backup)
                    await body(s)
                report = check_decision_logs(tmp_path / "daemons")
                assert report.ok, report

            asyncio.run(main())

        yield run
    finally:
        for n in nodes.values():
            n.cleanup()


def test_backup_on_the_config_primary_is_kept_at_the_same_epoch(restore_case: Any) -> None:
    async def body(s: Setup) -> None:
        (before,) = s.configs()
        s.kill_all()
        s.restore("node-0")
        assert await until(s.converged, 15, "the empty nodes to copy node-0") == "node-0"
        assert s.configs() == {before}  # no failover: the same epoch, the same primary
        assert s.nodes["node-1"].command("GET", "k99") == b"v99"

    restore_case(body)


def test_backup_elsewhere_with_the_config_primary_kept_down(restore_case: Any) -> None:
    async def body(s: Setup) -> None:
        ((epoch, _),) = s.configs()
        s.kill_all()
        s.restore("node-1", keep_down=("node-0",))
        s.lift_start_fence_by_hand("node-1")
        n1, n2 = s.nodes["node-1"], s.nodes["node-2"]
        n2.command("REPLICAOF", n1.host, str(n1.port))
        live = ("node-1", "node-2")
        primary = await until(lambda: s.converged(live), 20, "a failover to node-1's data")
        ((new_epoch, _),) = s.configs()
        assert new_epoch > epoch
        # Then the config primary's node comes back, empty: repointed, it copies the data.
        s.nodes["node-0"].start()
        assert await until(s.converged, 20, "node-0 to rejoin with the data") == primary
        assert s.nodes["node-0"].command("GET", "k0") == b"v0"

    restore_case(body)


def test_backup_elsewhere_is_never_wiped_by_the_empty_config_primary_and_recovers(
    restore_case: Any,
) -> None:
    async def body(s: Setup) -> None:
        s.kill_all()
        s.restore("node-1")
        n0, n1 = s.nodes["node-0"], s.nodes["node-1"]

        def flagged() -> bool:
            return all(
                v.empty_restart
                for d in s.cluster.daemons.values()
                for g in d.groups.values()
                for v in g.state.nodes
                if v.node == "node-0"
            )

        await until(flagged, 10, "every daemon to flag node-0 as restarted empty")
        assert _info(n1).get("role") == "master" and _dbsize(n1) == s.saved
        assert not _writable(n0)  # still under its start fence: nothing lands on it

        # The old runbook's step: make the others replicas of the restored node.
        s.lift_start_fence_by_hand("node-1")
        for name in ("node-0", "node-2"):
            s.nodes[name].command("REPLICAOF", n1.host, str(n1.port))
        await until(
            lambda: all(_follows(s.nodes[k], n1) for k in ("node-0", "node-2")),
            10,
            "the empty nodes to copy node-1",
        )
        assert _dbsize(n0) == s.saved
        try:
            await until(s.converged, 8, "the daemons to adopt node-1's data")
            gap = None
        except AssertionError:
            gap = f"configs {s.configs()} while node-1 is the primary"

        # The way out the runbook gives: stop the old primary's node; the daemons fail over
        # to a synchronised replica, then the node comes back empty and is repointed.
        ((epoch, _),) = s.configs()
        n0.stop()
        live = ("node-1", "node-2")
        primary = await until(lambda: s.converged(live), 20, "a failover to node-1's data")
        ((new_epoch, _),) = s.configs()
        assert new_epoch > epoch
        n0.restart(empty=True)
        assert await until(s.converged, 20, "node-0 to rejoin with the data") == primary
        if gap is not None:
            pytest.xfail(
                "known gap: after the others became replicas of the restored node, the daemons "
                f"kept a config naming a replica (node-0) as primary ({gap}); recovered by "
                "stopping node-0"
            )

    restore_case(body)

"""The ``no_sync`` fence against real valkey-server processes: a primary back without its data
must neither take writes nor serve a full sync that would wipe the replicas holding the data."""

from __future__ import annotations

import asyncio
import signal

import pytest

from gungnir.core import UNMEETABLE_REPLICAS, Fence, Promote, Repoint, SetWriteQuorum, Unfence
from gungnir.local import start_group
from gungnir.runtime.executor import commands_for, execute, sync_users
from gungnir.runtime.prober import NodeLink, denies_sync

from .support import check_decision_logs, nodes_of, until

KEYS = 300


def test_no_sync_commands_write_fence_first():
    cmds = commands_for(Fence("n1", 3, "no_sync"), {}, 1000, "app")
    assert cmds[0] == ("CONFIG", "SET", "min-replicas-to-write", str(UNMEETABLE_REPLICAS))
    assert ("ACL", "SETUSER", "default", "-sync", "-psync") in cmds
    assert ("ACL", "SETUSER", "app", "-sync", "-psync") in cmds
    assert cmds[-1] == ("CLIENT", "KILL", "TYPE", "replica")
    # The other fences are unchanged: no ACL step.
    assert not any(c[0] == "ACL" for c in commands_for(Fence("n1", 3), {}, 1000))
    assert sync_users(None) == sync_users("default") == ["default"]


@pytest.mark.parametrize(
    ("reply", "denied"),
    [
        ([b"flags", [b"on"], b"commands", b"+@all -sync -psync"], True),
        ({b"commands": b"+@all -psync"}, True),
        ([b"flags", [b"on"], b"commands", b"+@all"], False),
        ([b"commands", b"-@all +get"], False),
        (None, False),
    ],
)
def test_denies_sync_reads_acl_getuser(reply, denied):
    assert denies_sync(reply) is denied


def _refusals(node) -> int:
    """How many sync attempts this replica had refused with NOPERM (from its own log)."""
    return node.logfile.read_text(errors="replace").count("NOPERM")


def _synced(g) -> bool:
    """Every replica's link is up and it holds what the primary holds.  (``WAIT`` on the
    one-shot set-up connection would not do: that connection wrote nothing, so it waits for
    nothing.)"""
    size = g.primary.command("DBSIZE")
    return all(
        r.info().get("master_link_status") == "up" and r.command("DBSIZE") == size
        for r in g.replicas
    )


async def fill(g) -> None:
    for i in range(KEYS):
        g.primary.command("SET", f"k{i}", "v" * 50)
    assert g.primary.command("DBSIZE") == KEYS
    await until(lambda: _synced(g), 10, "the replicas to hold every key")


def test_replicas_keep_their_data_when_the_primary_restarts_empty(tmp_path):
    """Three empty restarts in a row.  The replicas are held with SIGSTOP while the node
    restarts and is fenced, so each one's reconnect certainly comes after the fence (the
    race before a daemon's first probe is the daemon tests' business): every attempt must be
    refused and every replica keep every key."""

    async def main():
        with start_group(replicas=2) as g:
            addrs = nodes_of(g)
            names = {a: n for n, a in addrs.items()}
            links = {n: NodeLink(n, a, names=names) for n, a in addrs.items()}

            async def do(action):
                return await execute(action, links[action.node], addrs, limit=2.0, pause_ms=5000)

            await fill(g)
            for _round in range(3):
                before = [_refusals(r) for r in g.replicas]
                for r in g.replicas:
                    r.kill(signal.SIGSTOP)
                try:
                    restart_empty(g.primary)
                    result = await do(Fence("node-0", 1, "no_sync"))
                    assert result.ok, result.reason
                finally:
                    for r in g.replicas:
                        r.kill(signal.SIGCONT)
                # Each replica tries again (twice, so a retry is refused too) and is turned away.
                await until(
                    lambda before=before: all(
                        _refusals(r) >= b + 2 for r, b in zip(g.replicas, before, strict=True)
                    ),
                    10,
                    "both replicas to be refused a sync twice",
                )
                for r in g.replicas:
                    assert r.command("DBSIZE") == KEYS
                    assert r.info()["master_link_status"] == "down"
                assert g.primary.command("DBSIZE") == 0
                assert b"NOREPLICAS" in str(g.primary.command("SET", "x", "1")).encode()
                # The probe still works on a fenced node (CLIENT PAUSE ALL would block it).
                assert (await links["node-0"].probe(1.0)).reachable
                # A lifted fence gives replication back: the replicas resync (from the empty
                # node, as an operator who unfences it asks) and are put back for the next round.
                assert (await do(Unfence("node-0", 1, 0))).ok
                assert not denies_sync(g.primary.command("ACL", "GETUSER", "default"))
                await until(lambda: _synced(g), 10, "the resync from the empty node")
                await fill(g)

            # The failover path: the fenced node is repointed at a promoted replica, which
            # restores its sync permission too (it may be promoted again one day).
            restart_empty(g.primary)
            assert (await do(Fence("node-0", 2, "no_sync"))).ok
            assert (await do(Promote("node-1", 2))).ok
            assert (await do(SetWriteQuorum("node-1", 2, 1, 2))).ok
            assert (await do(Repoint("node-2", "node-1", 2))).ok
            assert (await do(Repoint("node-0", "node-1", 2))).ok
            assert not denies_sync(g.primary.command("ACL", "GETUSER", "default"))
            promoted = g.replicas[0]
            await until(
                lambda: all(
                    n.info().get("master_port") == str(promoted.port)
                    and n.info().get("master_link_status") == "up"
                    and n.command("DBSIZE") == KEYS
                    for n in (g.primary, g.replicas[1])
                ),
                10,
                "both others to follow node-1 with every key",
            )
            assert promoted.command("DBSIZE") == KEYS
            for link in links.values():
                link.close()

    asyncio.run(main())


def restart_empty(node) -> None:
    """kill -9, then start on the same address without the RDB file a replica leaves behind
    (a full sync writes one), so the node really comes back empty."""
    node.kill(signal.SIGKILL)
    (node.workdir / f"{node.name}.rdb").unlink(missing_ok=True)
    node.start()


def _log_size(node) -> int:
    return len(node.logfile.read_text(errors="replace"))


def _wiped(node, since: int) -> bool:
    """Whether this node loaded an empty dataset from a full sync after log position
    ``since`` (its own log says so)."""
    return "keys loaded: 0," in node.logfile.read_text(errors="replace")[since:]


ROUNDS = 3


@pytest.mark.slow
@pytest.mark.faults
def test_daemons_keep_the_data_over_repeated_empty_restarts(tmp_path):
    """The whole path.  First ``ROUNDS`` times with every daemon running: the primary is
    killed and restarted empty on its address, the daemons flag it, fence it with ``no_sync``
    and fail over to a replica that kept every key.  That failover is quick, so it usually
    moves the replicas before they reconnect (about once a second) to the empty node; the
    last round holds the window open: only one daemon runs, so it fences the node on its own
    (a fence needs no election) but cannot fail over, and both replicas reconnect to the
    empty node and must be turned away with their data intact."""
    from gungnir.runtime.cluster import FAST, InProcessCluster, cluster_docs

    settings = {**FAST, "policy": "consistency"}

    async def main():
        with start_group(replicas=2) as g:
            await fill(g)
            by_name = {n.name: n for n in g.nodes}
            docs = cluster_docs(nodes_of(g), tmp_path, settings=settings)
            async with InProcessCluster(docs) as c:
                primary = "node-0"
                for _round in range(ROUNDS):
                    await until(
                        lambda p=primary: (
                            c.primaries() == {p}
                            and all(lk.up for d in c.daemons.values() for lk in d.links.values())
                        ),
                        15,
                        "daemons to agree on the primary with every peer link up",
                    )
                    old = by_name[primary]
                    mark = {n.name: _log_size(n) for n in g.nodes if n is not old}
                    restart_empty(old)
                    await until(
                        lambda p=primary: len(c.primaries()) == 1 and c.primaries() != {p},
                        30,
                        "a replica to replace the empty node",
                    )
                    (primary,) = c.primaries()
                    new = by_name[primary]
                    assert new is not old and new.info()["role"] == "master"
                    await until(
                        lambda new=new: all(
                            n.info().get("master_port") == str(new.port)
                            and n.info().get("master_link_status") == "up"
                            and n.command("DBSIZE") == KEYS
                            for n in g.nodes
                            if n is not new
                        ),
                        20,
                        "every other node to follow the new primary with every key",
                    )
                    assert new.command("DBSIZE") == KEYS
                    assert not _wiped(new, mark[new.name])

                # The held window: one daemon, no quorum, the fence alone keeps the data.
                await until(
                    lambda p=primary: (
                        c.primaries() == {p}
                        and all(lk.up for d in c.daemons.values() for lk in d.links.values())
                    ),
                    15,
                    "daemons to agree on the primary with every peer link up",
                )
                old = by_name[primary]
                replicas = [n for n in g.nodes if n is not old]
                before = [_refusals(r) for r in replicas]
                await c.stop_one("d2")
                await c.stop_one("d3")
                restart_empty(old)
                await until(
                    lambda: all(
                        _refusals(r) >= b + 2 for r, b in zip(replicas, before, strict=True)
                    ),
                    10,
                    "both replicas to be refused a sync from the empty node twice",
                )
                for r in replicas:
                    assert r.command("DBSIZE") == KEYS, f"{r.name} was wiped"
                    assert r.info()["master_port"] == str(old.port)
                assert old.command("DBSIZE") == 0
                assert b"NOREPLICAS" in str(old.command("SET", "x", "1")).encode()
        assert check_decision_logs(tmp_path).ok

    asyncio.run(main())

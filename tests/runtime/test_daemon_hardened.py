"""Nodes an operator hardened before gungnir came (``min-replicas-to-write 1``,
``min-replicas-max-lag 10``, a common Sentinel setup), on real processes.

The write lease rests on the node's ``min-replicas-max-lag``: the daemons must read it back and
bring it within the policy's, not assume it because ``min-replicas-to-write`` already looked
right.  And an operator's stricter ``min-replicas-to-write`` is kept, under either policy.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from gungnir.local import start_group
from gungnir.runtime.cluster import FAST, InProcessCluster, cluster_docs

from .support import check_decision_logs, master_port, nodes_of, until

pytestmark = pytest.mark.slow

HARDENED = {"min_replicas_to_write": 1, "min_replicas_max_lag": 10}


def _get(node, name: str) -> bytes | None:
    try:
        return bytes(node.command("CONFIG", "GET", name)[1])
    except Exception:  # a node between roles may refuse a connection; poll again
        return None


def _by_name(group, name):
    return next(n for n in group.nodes if n.name == name)


async def _fail_over(c: InProcessCluster, g) -> str:
    await until(lambda: c.primaries() == {"node-0"}, 10, "every daemon to see node-0")
    g.primary.kill(signal.SIGKILL)
    (new,) = await until(
        lambda: len(c.primaries()) == 1 and c.primaries() != {"node-0"} and c.primaries(),
        25,
        "one new primary agreed by all daemons",
    )
    new_node = _by_name(g, new)
    others = [n for n in g.replicas if n.name != new]
    await until(
        lambda: all(master_port(n) == new_node.port for n in others), 10, "the replica repointed"
    )
    return str(new)


def test_consistency_enforces_max_lag_on_hardened_nodes(tmp_path):
    async def main():
        with start_group(replicas=2, **HARDENED) as g:
            settings = dict(FAST, policy="consistency", min_replicas_max_lag=1.0)
            docs = cluster_docs(nodes_of(g), tmp_path, settings=settings)
            async with InProcessCluster(docs) as c:
                await until(lambda: c.primaries() == {"node-0"}, 10, "bootstrap")
                # min-replicas-to-write already met the policy's 1: the max-lag must still be
                # brought from the operator's 10 to the policy's 1 the lease is computed from
                await until(lambda: _get(g.primary, "min-replicas-max-lag") == b"1", 10, "max-lag")
                assert _get(g.primary, "min-replicas-to-write") == b"1"
                rts = [next(iter(d.groups.values())) for d in c.daemons.values()]
                await until(
                    lambda: all(rt.state.view("node-0").max_lag == 1 for rt in rts),
                    5,
                    "every daemon to have read the max-lag back",
                )
                new = await _fail_over(c, g)
                new_node = _by_name(g, new)
                await until(
                    lambda: (
                        _get(new_node, "min-replicas-to-write") == b"1"
                        and _get(new_node, "min-replicas-max-lag") == b"1"
                    ),
                    10,
                    "the new primary's write quorum and max-lag",
                )
                assert new_node.command("SET", "k", "v") in (b"OK", "OK")

        assert check_decision_logs(tmp_path).ok

    asyncio.run(main())


def test_availability_keeps_an_operators_min_replicas(tmp_path):
    async def main():
        with start_group(replicas=2, **HARDENED) as g:
            docs = cluster_docs(nodes_of(g), tmp_path)
            async with InProcessCluster(docs) as c:
                new = await _fail_over(c, g)
                new_node = _by_name(g, new)
                await until(
                    lambda: new_node.command("SET", "k", "v") in (b"OK", "OK"), 10, "writes"
                )
                # the policy's 0 is looser than the operator's 1: theirs is kept, on the new
                # primary and on the replica, and so is their max-lag
                for n in g.replicas:
                    assert _get(n, "min-replicas-to-write") == b"1", n.name
                    assert _get(n, "min-replicas-max-lag") == b"10", n.name

        assert check_decision_logs(tmp_path).ok

    asyncio.run(main())

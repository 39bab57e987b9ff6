"""``gungnir status``'s health: never ``healthy`` without a routable primary or without a
voice among the peers (issue 22)."""

from __future__ import annotations

from core.harness import make  # tests/ is on the path: the core tests' small cluster

from gungnir.core import PeerStatus
from gungnir.runtime.health import problems
from gungnir.runtime.render import render_status


def test_a_settled_group_is_healthy() -> None:
    c = make()
    c.run(2.0)
    assert problems(c.daemons["d1"]) == []


def test_a_config_primary_demoted_by_hand_is_not_healthy() -> None:
    c = make()
    c.run(2.0)
    c.nodes["n1"].role, c.nodes["n1"].master = "replica", "n2"
    c.nodes["n2"].role, c.nodes["n2"].master = "primary", None
    c.probe_all()  # seen, not yet corrected
    got = problems(c.daemons["d1"])
    assert "primary n1 is a replica (of n2): not routable" in got
    assert "also primary: n2" in got


def test_a_daemon_without_a_majority_or_refused_by_its_peers_is_not_healthy() -> None:
    c = make()
    c.run(2.0)
    c.cut |= {frozenset({"d1", "d2"}), frozenset({"d1", "d3"})}
    c.probe_all()
    assert problems(c.daemons["d1"]) == ["this daemon reaches no majority of the voters"]
    c.cut.clear()
    c.probe_all()
    c.feed("d1", PeerStatus("d2", False, answered=True))
    c.feed("d1", PeerStatus("d3", False, answered=True))
    assert problems(c.daemons["d1"]) == [
        "peers refuse this daemon's secret: d2, d3",
        "this daemon reaches no majority of the voters",
    ]


def test_status_table_lists_the_problems() -> None:
    snapshot = {
        "daemon": "d1",
        "uptime": 3.0,
        "peers": {"d2": {"up": True}},
        "refused_peers": 0,
        "groups": [
            {
                "group": "g",
                "primary": "n1",
                "primary_address": "127.0.0.1:1",
                "config_epoch": 0,
                "epoch": 0,
                "role": "follower",
                "healthy": False,
                "problems": ["primary n1 is a replica (of n2): not routable"],
                "failover": None,
                "nodes": [],
            }
        ],
    }
    out = render_status(snapshot)
    assert "DEGRADED" in out and "g: primary n1 is a replica (of n2): not routable" in out

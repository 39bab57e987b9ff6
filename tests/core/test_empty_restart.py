"""The empty-restart wipe (design rule 8): a primary that comes back without its data, even
with a few new writes, is never accepted as primary over replicas that hold the data."""

from __future__ import annotations

from gungnir.core import Fence, Probe, Settings, Start, Tick, init_state, step

from .harness import make

S = Settings(group="g", voters=("d1", "d2", "d3"), nodes=("n1", "n2", "n3"), initial_primary="n1")


def _seen() -> object:
    st, _ = step(init_state(S, "d1"), Start(0, None), 0.0)
    st, _ = step(st, Probe("n1", True, role="primary", offset=5000, replid="A", run_id="r1"), 0.1)
    for n in ("n2", "n3"):
        probe = Probe(n, True, master="n1", link_up=True, offset=5000, replid="A", run_id=n)
        st, _ = step(st, probe, 0.1)
    return st


def test_restart_with_a_few_new_writes_is_flagged_and_fenced_at_once() -> None:
    st = _seen()
    # back with a new run id and replid; clients already wrote a little (not empty, offset > 0)
    back = Probe("n1", True, role="primary", offset=37, replid="B", run_id="r2", empty=False)
    st, _ = step(st, back, 0.3)  # type: ignore[arg-type]
    assert st.view("n1").empty_restart  # type: ignore[union-attr]
    st, acts = step(st, Tick(), 0.4)
    assert "n1" in st.sdown
    assert any(isinstance(a, Fence) and a.node == "n1" for a in acts)


def test_restart_that_kept_its_data_is_not_flagged() -> None:
    st = _seen()
    # an RDB restart keeps the replication id and offset; later writes only add to it
    back = Probe("n1", True, role="primary", offset=5200, replid="A", run_id="r2")
    st, _ = step(st, back, 0.3)  # type: ignore[arg-type]
    assert not st.view("n1").empty_restart  # type: ignore[union-attr]
    st, acts = step(st, Tick(), 0.4)
    assert "n1" not in st.sdown and not any(isinstance(a, Fence) for a in acts)


def test_new_replid_with_offset_at_least_the_highest_seen_is_not_flagged() -> None:
    st = _seen()
    back = Probe("n1", True, role="primary", offset=5000, replid="B", run_id="r2")
    st, _ = step(st, back, 0.3)  # type: ignore[arg-type]
    assert not st.view("n1").empty_restart  # type: ignore[union-attr]


def test_same_run_id_is_never_a_restart() -> None:
    st = _seen()
    # a promotion changes the replid without a restart: not a lost dataset
    back = Probe("n1", True, role="primary", offset=10, replid="B", run_id="r1")
    st, _ = step(st, back, 0.3)  # type: ignore[arg-type]
    assert not st.view("n1").empty_restart  # type: ignore[union-attr]


def test_every_daemon_fails_over_from_a_primary_back_with_a_few_writes() -> None:
    for policy in ("availability", "consistency"):
        c = make(policy)
        c.nodes["n1"].offset = c.nodes["n2"].offset = c.nodes["n3"].offset = 5000
        c.run(1.0)
        n1 = c.nodes["n1"]
        n1.run_id, n1.replid, n1.offset = "r2", "fresh", 40  # restarted empty, then written
        c.run(0.5)
        # every daemon sees it down, or has already moved on to a new primary
        assert all(
            "n1" in d.sdown or d.config.primary not in (None, "n1") for d in c.daemons.values()
        ), policy
        assert n1.min_replicas == 1_000_000, policy  # fenced before any election
        c.run(10.0)
        primaries = [n.name for n in c.nodes.values() if n.role == "primary"]
        assert primaries in (["n2"], ["n3"]), (policy, primaries)
        assert n1.role == "replica", policy
        assert not c.kinds("promoted") or all(p["node"] != "n1" for p in c.kinds("promoted"))


def test_replica_restarting_empty_is_never_promoted() -> None:
    c = make()
    c.nodes["n3"].priority = 1  # the preferred replica: chosen first whenever eligible
    c.run(1.0)
    n3 = c.nodes["n3"]
    # back as it starts: a primary of its own with a new replid and a few bytes written
    n3.run_id, n3.replid, n3.offset, n3.role, n3.master = "r2", "fresh", 12, "primary", None
    c.run(1.0)
    assert all(d.view("n3").empty_restart for d in c.daemons.values())  # type: ignore[union-attr]
    # the primary dies before n3 resynchronised from it: n3 is a replica without a link
    n3.role, n3.master = "replica", "n1"
    c.nodes["n1"].up = False
    c.run(12.0)
    assert c.nodes["n2"].role == "primary"
    assert all(p["node"] != "n3" for p in c.kinds("promoted"))


def test_no_fence_when_there_is_no_replica_to_fail_over_to() -> None:
    s = Settings(group="g", voters=("d1", "d2", "d3"), nodes=("n1",), initial_primary="n1")
    st, _ = step(init_state(s, "d1"), Start(0, None), 0.0)
    st, _ = step(st, Probe("n1", True, role="primary", offset=5000, replid="A", run_id="r1"), 0.1)
    back = Probe("n1", True, role="primary", offset=37, replid="B", run_id="r2")
    st, _ = step(st, back, 0.3)
    st, acts = step(st, Tick(), 0.4)
    assert st.view("n1").empty_restart  # type: ignore[union-attr]
    assert not any(isinstance(a, Fence) for a in acts)  # a lone node stays writable

"""Voter-set changes with joint consensus (gungnir.core.membership), on the real core."""

from __future__ import annotations

import pytest

from gungnir.core import (
    Notify,
    Persist,
    PersistVoters,
    Received,
    Send,
    Settings,
    SettingsError,
    Start,
    Tick,
    VoteReply,
    VoteRequest,
    VotersChanged,
    init_state,
    step,
)
from gungnir.core.membership import CONFLICT, NEWER, OLDER, SAME, compare_views

from .harness import Cluster, Node

OLD = ("d1", "d2", "d3")
NEW = ("d2", "d3", "d4")


def cluster(voters: tuple[str, ...] = OLD, daemons: tuple[str, ...] = (*OLD, "d4")) -> Cluster:
    s = Settings(group="g", voters=voters, nodes=("n1", "n2", "n3"), initial_primary="n1")
    nodes = {
        "n1": Node("n1", role="primary", offset=100),
        "n2": Node("n2", master="n1", offset=100),
        "n3": Node("n3", master="n1", offset=90),
    }
    c = Cluster(s, nodes)
    for d in daemons:
        c.start(d)
    return c


def view(c: Cluster, d: str) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    st = c.daemons[d]
    return (st.voters_epoch, st.settings.voters, st.settings.next_voters)


def test_compare_views_orders_commits_then_joint() -> None:
    o = (0, OLD, ())
    joint = (0, OLD, NEW)
    n = (3, NEW, ())
    assert compare_views(o, joint) == NEWER
    assert compare_views(joint, o) == OLDER
    assert compare_views(joint, n) == NEWER
    assert compare_views(n, joint) == OLDER
    assert compare_views(o, o) == SAME
    assert compare_views(n, (0, NEW, ())) == SAME  # bootstrapped from the committed set
    assert compare_views(joint, (0, OLD, ())) == OLDER  # joint is ahead of its own set
    assert compare_views(joint, (5, OLD, ())) == NEWER  # ... not of a later re-commit of it
    assert compare_views(joint, (0, OLD, ("d1", "d2", "d5"))) == CONFLICT
    assert compare_views(o, (0, NEW, ())) == CONFLICT
    assert compare_views(joint, (0, (), ())) == OLDER  # a silent sender is not joint


def test_change_commits_through_a_reconfig_election_without_node_actions() -> None:
    c = cluster()
    c.run(3)
    assert {c.daemons[d].config.primary for d in c.daemons} == {"n1"}
    for d in c.daemons:
        c.feed(d, VotersChanged(NEW))
    assert all(view(c, d) == (0, OLD, NEW) for d in c.daemons)
    assert all(c.durable_views[d] == PersistVoters(OLD, NEW, 0) for d in c.daemons)
    c.run(6)
    cfgs = [x for x in c.published if getattr(x, "voters", ()) == NEW]
    assert cfgs, c.published
    committed = cfgs[0]
    assert committed.primary == "n1"  # type: ignore[attr-defined]
    for d in c.daemons:
        assert view(c, d) == (committed.epoch, NEW, ()), d  # type: ignore[attr-defined]
    assert not c.daemons["d1"].is_voter and c.daemons["d4"].is_voter
    assert c.kinds("promoted") == []  # a reconfiguration moves no node
    leader = c.kinds("leader_elected")[0]
    grants = set(leader["voters"])  # type: ignore[arg-type]
    assert len(grants & set(OLD)) >= 2 and len(grants & set(NEW)) >= 2


def test_failover_after_the_change_is_decided_by_the_new_set() -> None:
    c = cluster()
    c.run(3)
    for d in c.daemons:
        c.feed(d, VotersChanged(NEW))
    c.run(6)
    del c.daemons["d1"]  # the removed daemon is decommissioned
    before = len(c.kinds("leader_elected"))
    c.nodes["n1"].up = False
    c.run(15)
    elected = c.kinds("leader_elected")[before:]
    assert elected
    assert set(elected[-1]["voters"]) <= set(NEW)  # type: ignore[arg-type]
    assert {c.daemons[d].config.primary for d in NEW} == {"n2"}


def _request(sender: str, epoch: int, voters: tuple[str, ...], nxt: tuple[str, ...]) -> Received:
    return Received(VoteRequest("g", sender, epoch, "n1", "x", 100, "reconfig", voters, nxt, 0))


def _joint_state(me: str = "d2"):  # type: ignore[no-untyped-def]
    s = Settings(group="g", voters=OLD, nodes=("n1",), initial_primary="n1")
    st, _ = step(init_state(s, me), Start(0, None, OLD, NEW, 0), 0.0)
    return st


def test_a_joint_voter_refuses_an_old_set_only_candidate_and_tells_it() -> None:
    st = _joint_state()
    st2, acts = step(st, _request("d1", 1, OLD, ()), 1.0)
    assert st2.vote is None and st2.epoch == 0
    assert not any(isinstance(a, Persist) for a in acts)
    replies = [a.message for a in acts if isinstance(a, Send)]
    assert isinstance(replies[0], VoteReply) and not replies[0].granted
    assert "newer" in replies[0].reason


def test_an_old_voter_adopts_the_joint_view_before_it_grants() -> None:
    s = Settings(group="g", voters=OLD, nodes=("n1",), initial_primary="n1")
    st, _ = step(init_state(s, "d3"), Start(), 0.0)
    from gungnir.core import Probe

    st, _ = step(st, Probe("n1", True, role="primary", offset=1, run_id="a"), 0.0)
    st2, acts = step(st, _request("d2", 1, OLD, NEW), 1.0)
    kinds = [type(a).__name__ for a in acts]
    assert kinds.index("PersistVoters") < kinds.index("Persist") < kinds.index("Send")
    assert (st2.settings.voters, st2.settings.next_voters) == (OLD, NEW)
    assert st2.vote == "d2"


def test_an_observer_learns_the_joint_view_from_a_candidate_and_votes() -> None:
    s = Settings(group="g", voters=OLD, nodes=("n1",), initial_primary="n1")
    st, _ = step(init_state(s, "d4"), Start(), 0.0)
    from gungnir.core import Probe

    st, _ = step(st, Probe("n1", True, role="primary", offset=1, run_id="a"), 0.0)
    _, acts = step(st, _request("d1", 1, OLD, ()), 1.0)
    assert acts == []  # an observer of the old set stays silent
    st2, acts = step(st, _request("d2", 1, OLD, NEW), 1.0)
    assert st2.vote == "d2" and st2.is_voter


def test_the_joint_view_survives_a_restart() -> None:
    c = cluster()
    c.run(2)
    c.feed("d2", VotersChanged(NEW))
    assert view(c, "d2") == (0, OLD, NEW)
    c.start("d2")  # a restart: only what was persisted comes back (no VotersChanged yet)
    assert view(c, "d2") == (0, OLD, NEW)
    assert c.kinds("voters_changed")[-1]["next_voters"] == list(NEW)
    _, acts = step(c.daemons["d2"], _request("d1", 9, OLD, ()), c.now)
    replies = [a.message for a in acts if isinstance(a, Send)]
    assert replies and all(not getattr(m, "granted", False) for m in replies)


def test_a_bad_desired_set_is_refused_with_a_clear_message() -> None:
    s = Settings(group="g", voters=OLD, nodes=("n1",), initial_primary="n1")
    st, _ = step(init_state(s, "d1"), Start(), 0.0)
    st2, acts = step(st, VotersChanged(("d1", "d2")), 1.0)
    assert st2 == st
    assert [a.event for a in acts if isinstance(a, Notify)] == ["-voters-refused"]
    assert "3 or 5" in acts[0].detail  # type: ignore[union-attr]
    st3, acts = step(st, VotersChanged(("d1", "d1", "d2")), 1.0)
    assert st3 == st and "duplicates" in acts[0].detail  # type: ignore[union-attr]


def test_a_second_change_waits_for_the_first() -> None:
    st = _joint_state()
    st2, _ = step(st, VotersChanged(("d3", "d4", "d5")), 1.0)
    assert st2.settings.next_voters == NEW  # the joint target does not move
    assert st2.desired == ("d3", "d4", "d5")


def test_joint_fencing_needs_both_majorities() -> None:
    """During a change, a daemon that reaches a majority of the old set but not of the new one
    is on the minority side and fences the primary it can reach."""
    from gungnir.core import PeerStatus, Probe

    st = _joint_state("d1")
    st, _ = step(st, Probe("n1", True, role="primary", offset=1, run_id="a"), 0.0)
    st, _ = step(st, PeerStatus("d2", True), 0.0)
    st, _ = step(st, PeerStatus("d3", False), 0.0)
    st, _ = step(st, PeerStatus("d4", False), 0.0)
    st, _ = step(st, Tick(), 0.1)
    _, acts = step(st, Tick(), 0.1 + st.settings.fence_after)
    assert any(isinstance(a, Notify) and a.event == "+fence-minority" for a in acts)
    # with d3 reachable too, both majorities are there: no fencing
    st, _ = step(st, PeerStatus("d3", True), 0.2)
    _, acts = step(st, Tick(), 10.0)
    assert not any(isinstance(a, Notify) and a.event == "+fence-minority" for a in acts)


def test_settings_validate_voter_sets() -> None:
    with pytest.raises(SettingsError, match="3 or 5"):
        Settings(group="g", voters=OLD, nodes=("n1",), desired_voters=("d1",))
    five = ("a", "b", "c", "d", "e")
    with pytest.raises(SettingsError, match="quorum 4 > 3 next_voters"):
        Settings(group="g", voters=five, nodes=("n1",), quorum=4, next_voters=OLD)
    with pytest.raises(SettingsError, match="quorum 4 > 3 voters asked for"):
        Settings(group="g", voters=five, nodes=("n1",), quorum=4, desired_voters=OLD)
    with pytest.raises(SettingsError, match="voters_epoch"):
        Settings(group="g", voters=OLD, nodes=("n1",), voters_epoch=-1)

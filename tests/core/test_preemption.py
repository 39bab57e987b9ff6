"""A failover in progress (a consistency failover waits out the write lease, longer than
``election_timeout``) is not pre-empted by a newer epoch: safe either way, but slower."""

from __future__ import annotations

from gungnir.core import (
    LEADER,
    Probe,
    Received,
    Send,
    Settings,
    Start,
    Tick,
    VoteReply,
    VoteRequest,
    init_state,
    step,
)
from gungnir.core.state import DaemonState

from .harness import make

S = Settings(
    group="g",
    voters=("d1", "d2", "d3"),
    nodes=("n1", "n2", "n3"),
    initial_primary="n1",
    policy="consistency",
)


def _voter_seeing_primary_down() -> DaemonState:
    st, _ = step(init_state(S, "d3"), Start(0, None), 0.0)
    st, _ = step(st, Probe("n1", True, role="primary", offset=100, replid="A", run_id="r"), 0.1)
    for n in ("n2", "n3"):
        st, _ = step(st, Probe(n, True, master="n1", link_up=True, offset=100, replid="A"), 0.1)
    st, _ = step(st, Probe("n1", False), 0.2)
    st, _ = step(st, Tick(), 0.2 + S.down_after)
    assert "n1" in st.sdown
    return st


def _ask(st: DaemonState, sender: str, epoch: int, now: float) -> tuple[DaemonState, bool, str]:
    req = VoteRequest("g", sender, epoch, "n2", "A", 100)
    st, acts = step(st, Received(req), now)
    reply = next(
        a.message for a in acts if isinstance(a, Send) and isinstance(a.message, VoteReply)
    )
    return st, reply.granted, reply.reason


def test_voter_backs_its_candidate_until_a_config_or_the_failover_timeout() -> None:
    st = _voter_seeing_primary_down()
    t = 0.3 + S.down_after
    st, ok, _ = _ask(st, "d1", 1, t)
    assert ok
    st2, ok, why = _ask(st, "d2", 2, t + S.election_timeout * 2)
    assert not ok and "backing d1" in why and st2.epoch == 1
    _, ok, _ = _ask(st, "d2", 2, t + S.failover_timeout + 0.1)
    assert ok  # d1 had its time: a leader that died mid-failover is replaced


def test_the_backed_candidate_itself_may_move_to_a_newer_epoch() -> None:
    st = _voter_seeing_primary_down()
    t = 0.3 + S.down_after
    st, ok, _ = _ask(st, "d1", 1, t)
    _, ok, _ = _ask(st, "d1", 2, t + 1.0)
    assert ok


def test_leader_keeps_its_failover_while_waiting_out_the_lease() -> None:
    c = make("consistency", election_timeout=1.0)
    c.run(1.0)
    c.nodes["n1"].up = False
    for _ in range(40):
        c.run(0.5)
        leaders = [d for d in c.daemons.values() if d.role == LEADER]
        if leaders and leaders[0].failover and leaders[0].failover.stage == "lease":
            break
    leader = leaders[0]
    assert leader.failover is not None and leader.failover.stage == "lease"
    assert S.lease > 1.0  # the lease outlasts election_timeout: the pre-emption window
    rival = next(n for n in c.daemons if n != leader.me)
    req = VoteRequest("g", rival, leader.epoch + 1, "n3", "x", 90)
    st, acts = step(leader, Received(req), c.now)
    reply = next(a.message for a in acts if isinstance(a, Send))
    assert isinstance(reply, VoteReply) and not reply.granted and "leading" in reply.reason
    assert st.role == LEADER and st.failover == leader.failover
    c.run(10.0)
    assert len(c.kinds("leader_elected")) == 1  # one election, one promotion
    assert [p["node"] for p in c.kinds("promoted")] == [leader.failover.new]

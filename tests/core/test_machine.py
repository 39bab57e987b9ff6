from gungnir.core import (
    LEADER,
    Broadcast,
    Config,
    Log,
    Persist,
    Probe,
    PublishConfig,
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

from .harness import make

S3 = Settings(group="g", voters=("d1", "d2", "d3"), nodes=("n1", "n2"), initial_primary="n1")


def started(name: str = "d1", settings: Settings = S3, epoch: int = 0, vote: str | None = None):
    st, acts = step(init_state(settings, name), Start(epoch, vote), 0.0)
    return st, acts


def test_events_before_start_are_ignored_and_start_logs_header_and_restart() -> None:
    st = init_state(S3, "d1")
    st2, acts = step(st, Tick(), 1.0)
    assert st2 == st and acts == []
    st, acts = started(epoch=3, vote="d2")
    kinds = [a.kind for a in acts if isinstance(a, Log)]
    assert kinds == ["header", "restarted"]
    assert acts[1].as_dict()["epoch"] == 3  # type: ignore[union-attr]
    # the configured epoch-0 config is published: nobody leads it, every daemon derives it
    assert acts[2:] == [PublishConfig(Config(0, "n1", ("n2",)), leader="")]
    assert st.epoch == 3 and st.vote == "d2" and st.restart_floor == 3


def test_states_are_hashable_values() -> None:
    a, _ = started()
    b, _ = started()
    assert a == b and hash(a) == hash(b)


def test_sdown_after_down_after_then_odown_at_quorum() -> None:
    st, _ = started()
    st, _ = step(st, Probe("n1", True, role="primary", run_id="r"), 0.5)
    st, _ = step(st, Probe("n1", False), 1.0)
    st, acts = step(st, Tick(), 1.0)
    assert "n1" not in st.sdown
    st, acts = step(st, Tick(), 3.6)
    assert "n1" in st.sdown and not st.odown  # quorum 2: my own report is not enough
    assert any(getattr(a, "event", "") == "+sdown" for a in acts)
    assert any(isinstance(a, Broadcast) for a in acts)
    report = next(a.message for a in acts if isinstance(a, Broadcast))
    peer = report.__class__(group="g", sender="d2", node="n1", down=True, epoch=0)
    st, _ = step(st, Received(peer), 3.7)
    st, acts = step(st, Tick(), 3.8)
    assert st.odown and any(getattr(a, "event", "") == "+odown" for a in acts)


def vote_request(epoch: int, sender: str, offset: int = 10) -> Received:
    return Received(VoteRequest("g", sender, epoch, "n2", "x", offset))


def down_here(st):  # make the primary look down to this voter
    st, _ = step(st, Probe("n1", False), 0.1)
    st, _ = step(st, Tick(), 5.0)
    return st


def test_one_vote_per_epoch_persisted_before_the_reply() -> None:
    st, _ = started("d3")
    st = down_here(st)
    st, acts = step(st, vote_request(1, "d1"), 5.1)
    assert isinstance(acts[0], Persist) and acts[0] == Persist(1, "d1")
    replies = [a for a in acts if isinstance(a, Send)]
    assert replies[-1].message.granted  # type: ignore[union-attr]
    assert acts.index(acts[0]) < acts.index(replies[-1])
    st, acts = step(st, vote_request(1, "d2"), 5.2)
    refusals = [a.message for a in acts if isinstance(a, Send) and isinstance(a.message, VoteReply)]
    assert refusals and not refusals[0].granted
    assert "already voted for d1" in refusals[0].reason
    assert not any(isinstance(a, Persist) for a in acts)
    # a duplicate request from the same candidate is answered the same way, no new persist
    st, acts = step(st, vote_request(1, "d1"), 5.3)
    assert any(isinstance(a, Send) and a.message.granted for a in acts)  # type: ignore[union-attr]
    assert not any(isinstance(a, Persist) for a in acts)


def test_observers_never_vote_and_non_voters_are_refused() -> None:
    st, _ = started("obs")
    st = down_here(st)
    _, acts = step(st, vote_request(1, "d1"), 5.1)
    assert acts == []
    st, _ = started("d3")
    st = down_here(st)
    _, acts = step(st, vote_request(1, "obs"), 5.1)
    assert not acts[0].message.granted  # type: ignore[union-attr]


def test_data_aware_vote_refuses_staler_candidate() -> None:
    s = S3.replace(nodes=("n1", "n2", "n3"))
    st, _ = started("d3", s)
    st, _ = step(st, Probe("n3", True, role="replica", master="n1", offset=50, run_id="a"), 0.1)
    st = down_here(st)
    _, acts = step(st, vote_request(1, "d1", offset=40), 5.1)
    reply = acts[0].message  # type: ignore[union-attr]
    assert not reply.granted and "n3 has offset 50" in reply.reason


def test_refuses_while_primary_is_up_here() -> None:
    st, _ = started("d3")
    st, _ = step(st, Probe("n1", True, role="primary", run_id="r"), 0.1)
    st, _ = step(st, Tick(), 0.2)
    _, acts = step(st, vote_request(1, "d1"), 0.3)
    assert "is up here" in acts[0].message.reason  # type: ignore[union-attr]


def test_restart_rule_ignores_late_votes_for_the_persisted_epoch() -> None:
    st, _ = started("d1", epoch=1, vote="d1")
    late = Received(VoteReply("g", "d2", 1, "d1", True))
    st2, acts = step(st, late, 1.0)
    assert st2.role != LEADER and acts == []


def test_majority_of_whole_voter_set_not_quorum() -> None:
    s5 = Settings(
        group="g",
        voters=("d1", "d2", "d3", "d4", "d5"),
        nodes=("n1", "n2"),
        quorum=2,
        initial_primary="n1",
    )
    st, _ = started("d1", s5)
    st, _ = step(st, Probe("n2", True, role="replica", master="n1", offset=5, run_id="a"), 0.1)
    st, _ = step(st, Probe("n1", False), 0.1)
    st, _ = step(st, Received(_down("d2")), 4.0)
    st, acts = step(st, Tick(), 4.0)
    assert st.role == "candidate"
    ep = st.election.epoch  # type: ignore[union-attr]
    # Persist precedes the broadcast of the vote request
    persist = next(i for i, a in enumerate(acts) if isinstance(a, Persist))
    ask = next(
        i
        for i, a in enumerate(acts)
        if isinstance(a, Broadcast) and isinstance(a.message, VoteRequest)
    )
    assert persist < ask
    st, _ = step(st, Received(VoteReply("g", "d2", ep, "d1", True)), 4.1)
    assert st.role == "candidate"  # 2 of 5 is the quorum but not a majority
    st, _ = step(st, Received(VoteReply("g", "d3", ep, "d1", True)), 4.2)
    assert st.role == LEADER


def _down(sender: str):
    from gungnir.core import DownReport

    return DownReport("g", sender, "n1", True, 0)


def test_failover_availability_promotes_best_replica_and_everyone_learns_config() -> None:
    c = make()
    c.run(2.0)
    c.nodes["n1"].up = False
    c.run(12.0)
    assert c.nodes["n2"].role == "primary"  # higher offset than n3
    assert c.nodes["n3"].master == "n2"
    leaders = c.kinds("leader_elected")
    assert len({r["epoch"] for r in leaders}) == len(leaders)
    assert {d.config.primary for d in c.daemons.values()} == {"n2"}
    assert c.published and c.published[-1].primary == "n2"  # type: ignore[attr-defined]
    # the old primary comes back and is turned into a replica by reconciliation
    c.nodes["n1"].up = True
    c.run(6.0)
    assert c.nodes["n1"].role == "replica" and c.nodes["n1"].master == "n2"


def test_failover_consistency_waits_lease_and_sets_write_quorum() -> None:
    c = make("consistency")
    c.run(2.0)
    c.nodes["n1"].up = False
    t0 = c.now
    c.run(15.0)
    assert c.nodes["n2"].role == "primary"
    assert c.nodes["n2"].min_replicas == 1  # majority of 3 nodes minus the primary
    promoted = c.kinds("promoted")[0]
    assert promoted["t"] - t0 >= c.settings.promote_after  # type: ignore[operator]


def test_minority_side_fences_reachable_primary() -> None:
    c = make()
    c.run(1.0)
    for other in ("d2", "d3"):
        c.cut.add(frozenset({"d1", other}))
    c.run(c.settings.fence_after + 1.0)
    assert c.nodes["n1"].min_replicas == 1_000_000


def test_empty_restarted_replica_is_never_chosen() -> None:
    c = make()
    c.nodes["n3"].offset = 500
    c.run(1.0)
    c.nodes["n3"].run_id, c.nodes["n3"].offset, c.nodes["n3"].empty = "r2", 0, True
    c.run(1.0)
    c.nodes["n1"].up = False
    c.run(12.0)
    assert c.nodes["n2"].role == "primary" and c.nodes["n3"].role == "replica"


def test_manual_switchover_pauses_waits_and_moves_primary() -> None:
    from gungnir.core import Switchover

    c = make()
    c.run(1.0)
    c.nodes["n3"].offset = 100
    c.feed("d1", Switchover(target="n3"))
    c.run(3.0)
    assert c.nodes["n3"].role == "primary"
    assert c.nodes["n1"].role == "replica" and c.nodes["n1"].master == "n3"
    assert not c.nodes["n1"].paused

"""The lost-state rule (core/amnesia.py): a daemon whose state is missing or lost never votes
in an epoch it cannot prove it did not vote in, and asks for peers' epochs itself."""

from gungnir.core import (
    ConfigAnnounce,
    ConfigQuery,
    DownReport,
    PeerStatus,
    Persist,
    Probe,
    Received,
    Send,
    Settings,
    Start,
    Switchover,
    Tick,
    VoteReply,
    VoteRequest,
    init_state,
    step,
)
from gungnir.core.state import Config

S = Settings(group="g", voters=("d1", "d2", "d3"), nodes=("n1", "n2"), initial_primary="n1")


def _request(epoch: int, sender: str) -> Received:
    return Received(VoteRequest("g", sender, epoch, "n2", "x", 10))


def _answer(sender: str, epoch: int, reply_to: float | None) -> Received:
    return Received(ConfigAnnounce("g", sender, Config(0, "n1"), epoch, reply_to=reply_to))


def _amnesiac(t: float = 1.0):  # type: ignore[no-untyped-def]
    """d2 after a restart with its state lost, the primary down in its eyes."""
    st, acts = step(init_state(S, "d2"), Start(amnesiac=True), t)
    st, _ = step(st, Probe("n2", True, role="replica", master="n1", offset=10, run_id="b"), t)
    st, _ = step(st, Probe("n1", False), t)
    st, _ = step(st, Tick(), t + 5.0)
    return st, acts


def _down_report(sender: str) -> DownReport:
    return DownReport("g", sender, "n1", True, 0)


def _replies(acts) -> list[VoteReply]:  # type: ignore[no-untyped-def]
    return [a.message for a in acts if isinstance(a, Send) and isinstance(a.message, VoteReply)]


def test_a_lost_state_is_marked_durably_before_anything_else() -> None:
    st, acts = _amnesiac()
    persists = [a for a in acts if isinstance(a, Persist)]
    assert persists == [Persist(0, None, amnesiac=True)]
    assert st.amnesia is not None and st.amnesia[1] == {"d1", "d3"}


def test_an_amnesiac_daemon_refuses_every_vote_and_persists_none() -> None:
    st, _ = _amnesiac()
    # before the loss d2 granted d1 epoch 1; now d3, which never heard of epoch 1, asks
    st, acts = step(st, _request(1, "d3"), 7.0)
    assert [r.granted for r in _replies(acts)] == [False]
    assert "lost its state" in _replies(acts)[0].reason
    assert not any(isinstance(a, Persist) for a in acts) and st.vote is None


def test_an_amnesiac_daemon_neither_stands_nor_leads_a_switchover() -> None:
    st, _ = _amnesiac()
    st, _ = step(st, Received(_down_report("d3")), 19.9)
    st, acts = step(st, Tick(jitter=0.0), 20.0)
    assert st.odown  # the primary is down by quorum, and yet
    assert st.role == "follower" and st.election is None
    _, acts = step(st, Switchover(), 21.0)
    assert any(getattr(a, "event", "") == "-switchover-refused" for a in acts)


def test_peer_up_asks_for_the_epoch_and_shares_the_config() -> None:
    st, _ = _amnesiac(t=1.0)
    st, acts = step(st, PeerStatus("d1", True), 2.0)
    sent = [a.message for a in acts if isinstance(a, Send) and a.to == "d1"]
    assert any(isinstance(m, ConfigAnnounce) for m in sent)
    assert ConfigQuery("g", "d2", 1.0, 0) in sent
    # the same link going down and up again asks again (a lost query is retried)
    st, _ = step(st, PeerStatus("d1", False), 3.0)
    _, acts = step(st, PeerStatus("d1", True), 4.0)
    assert any(isinstance(a, Send) and isinstance(a.message, ConfigQuery) for a in acts)


def test_only_answers_to_a_query_since_the_start_count() -> None:
    st, _ = _amnesiac(t=1.0)
    st, _ = step(st, _answer("d1", 5, reply_to=None), 6.1)  # sent before the loss, maybe
    st, _ = step(st, _answer("d3", 5, reply_to=0.5), 6.2)  # a query of the previous life
    assert st.amnesia is not None and st.amnesia[1] == {"d1", "d3"}


def test_after_every_voter_answered_it_votes_only_past_every_epoch_reported() -> None:
    st, _ = _amnesiac(t=1.0)
    st, acts = step(st, _answer("d1", 1, reply_to=1.0), 6.1)
    assert st.amnesia is not None
    # the newer epoch is adopted (and persisted) without clearing the mark
    assert [a.amnesiac for a in acts if isinstance(a, Persist)] == [None]
    st, _ = step(st, _request(1, "d3"), 6.2)  # one answer is not enough
    assert st.vote is None
    st, acts = step(st, _answer("d3", 0, reply_to=1.0), 6.3)
    assert st.amnesia is None and st.epoch == 2 and st.vote is None
    assert Persist(2, None, amnesiac=False) in acts
    assert st.restart_floor == 2  # never leads an epoch it may have led before the loss
    st, acts = step(st, _request(1, "d3"), 6.4)
    assert [r.granted for r in _replies(acts)] == [False]
    st, acts = step(st, _request(3, "d3"), 6.5)
    assert [r.granted for r in _replies(acts)] == [True]
    assert acts[0] == Persist(3, "d3")


def test_a_kept_epoch_is_a_floor_even_when_peers_report_less() -> None:
    st, _ = step(init_state(S, "d2"), Start(epoch=7, vote="d1", amnesiac=True), 1.0)
    assert st.vote is None and st.epoch == 7
    st, _ = step(st, _answer("d1", 2, reply_to=1.0), 2.0)
    st, _ = step(st, _answer("d3", 3, reply_to=1.0), 2.1)
    assert st.amnesia is None and st.epoch == 8


def test_an_intact_restart_is_not_amnesiac() -> None:
    st, acts = step(init_state(S, "d2"), Start(epoch=3, vote="d1"), 1.0)
    assert st.amnesia is None and not any(isinstance(a, Persist) for a in acts)


def test_a_fresh_group_keeps_epoch_zero() -> None:
    """Every voter at epoch 0: nobody ever voted (elections start at 1), nothing to skip."""
    st, _ = _amnesiac(t=1.0)
    st, _ = step(st, _answer("d1", 0, reply_to=1.0), 6.1)
    st, acts = step(st, _answer("d3", 0, reply_to=1.0), 6.2)
    assert st.amnesia is None and st.epoch == 0 and Persist(0, None, amnesiac=False) in acts
    _, acts = step(st, _request(1, "d3"), 6.3)
    assert acts[0] == Persist(1, "d3")

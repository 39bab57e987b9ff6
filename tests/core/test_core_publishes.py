"""Decisions that used to sit in the shells are core actions now (issue 16 item 5): the
announce to a peer whose link comes up, and the publication of the epoch-0 config."""

from gungnir.core import (
    ConfigAnnounce,
    PeerStatus,
    Probe,
    PublishConfig,
    Send,
    Settings,
    Start,
    init_state,
    step,
)
from gungnir.core.state import Config

S = Settings(group="g", voters=("d1", "d2", "d3"), nodes=("n1", "n2"))


def test_a_peer_link_coming_up_gets_our_config_once() -> None:
    st, _ = step(init_state(S, "d1"), Start(epoch=2), 0.0)
    st, acts = step(st, PeerStatus("d2", True), 1.0)
    assert acts == [Send("d2", ConfigAnnounce("g", "d1", st.config, 2))]
    st, acts = step(st, PeerStatus("d2", True), 2.0)  # still up: nothing new to say
    assert acts == []
    st, acts = step(st, PeerStatus("d2", False), 3.0)
    assert acts == []
    _, acts = step(st, PeerStatus("d2", True), 4.0)  # back (a restart): told again
    assert [a.to for a in acts if isinstance(a, Send)] == ["d2"]


def test_a_link_to_a_daemon_outside_the_group_says_nothing() -> None:
    st, _ = step(init_state(S, "d1"), Start(), 0.0)
    _, acts = step(st, PeerStatus("stranger", True), 1.0)
    assert acts == []


def test_the_config_found_by_observation_is_published_once_with_no_leader() -> None:
    st, acts = step(init_state(S, "d1"), Start(), 0.0)
    assert not any(isinstance(a, PublishConfig) for a in acts)  # no initial primary
    st, acts = step(st, Probe("n2", True, role="replica", master="n1", run_id="b"), 0.5)
    assert acts == [] and st.config.primary is None
    st, acts = step(st, Probe("n1", True, role="primary", run_id="a"), 0.6)
    assert acts == [PublishConfig(Config(0, "n1", ("n2",)), leader="")]
    _, acts = step(st, Probe("n1", True, role="primary", run_id="a"), 1.6)
    assert acts == []


def test_two_primaries_seen_publish_nothing() -> None:
    st, _ = step(init_state(S, "d1"), Start(), 0.0)
    st, _ = step(st, Probe("n2", True, role="primary", run_id="b"), 0.5)
    st, acts = step(st, Probe("n1", True, role="primary", run_id="a"), 0.6)
    assert acts == [] and st.config.primary is None

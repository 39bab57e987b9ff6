"""Observers (daemons outside the voter set) probe and report, but their word never counts
toward the quorum and they never fence (design rule 9): with a DaemonSet on 50 nodes, 47
observers must not be able to take a healthy primary out of service."""

from gungnir.core import (
    DownReport,
    Fence,
    PeerStatus,
    Probe,
    Received,
    Settings,
    Start,
    Tick,
    init_state,
    step,
)

S = Settings(group="g", voters=("d1", "d2", "d3"), nodes=("n1", "n2"), initial_primary="n1")


def _started(me: str):  # type: ignore[no-untyped-def]
    st, _ = step(init_state(S, me), Start(), 0.0)
    st, _ = step(st, Probe("n1", True, role="primary", run_id="a"), 0.1)
    st, _ = step(st, Probe("n2", True, role="replica", master="n1", offset=5, run_id="b"), 0.1)
    return st


def _report(sender: str) -> Received:
    return Received(DownReport("g", sender, "n1", True, 0))


def test_down_reports_from_observers_do_not_make_the_primary_objectively_down() -> None:
    st = _started("d1")
    st, _ = step(st, Probe("n1", False), 0.2)
    for obs in ("o1", "o2", "o3"):
        st, _ = step(st, _report(obs), 3.9)
    st, acts = step(st, Tick(), 4.0)
    assert "n1" in st.sdown and not st.odown  # quorum 2: d1 alone, observers do not count
    assert not any(getattr(a, "event", "") == "+odown" for a in acts)
    st, _ = step(st, _report("d2"), 4.1)
    st, _ = step(st, Tick(), 4.2)
    assert st.odown  # a second voter does


def test_an_observer_does_not_count_itself_toward_the_quorum() -> None:
    st = _started("o1")
    st, _ = step(st, Probe("n1", False), 0.2)
    st, _ = step(st, _report("d2"), 3.9)
    st, _ = step(st, Tick(), 4.0)
    assert "n1" in st.sdown and not st.odown
    st, _ = step(st, _report("d3"), 4.1)
    st, _ = step(st, Tick(), 4.2)
    assert st.odown  # two voters' reports: the quorum, as every voter sees it


def _fences_when_cut_off(me: str) -> list[str]:
    """The nodes ``me`` fences while it sees the primary but no other daemon."""
    st = _started(me)
    for peer in S.voters:
        st, _ = step(st, PeerStatus(peer, False), 0.2)
    fenced: list[str] = []
    t = 0.5
    while t < S.fence_after * 3:
        st, _ = step(st, Probe("n1", True, role="primary", run_id="a"), t)
        st, acts = step(st, Tick(), t)
        fenced += [a.node for a in acts if isinstance(a, Fence)]
        t += 0.5
    return fenced


def test_an_isolated_observer_never_fences_the_primary() -> None:
    assert _fences_when_cut_off("o1") == []


def test_an_isolated_voter_still_fences_the_primary() -> None:
    assert _fences_when_cut_off("d1") == ["n1"]

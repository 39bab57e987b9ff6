"""Metrics that tell the truth (issue 22): counters exported at 0 from the start, no
replica-only series on a promoted primary, and ``gungnir_is_leader`` 1 on the daemon that
``gungnir_leader_info`` names for the current epoch."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gungnir.core import Notify, Settings, init_state
from gungnir.runtime.metrics import ACTION_KINDS, PEER_REFUSALS, Metrics
from gungnir.runtime.telemetry import Telemetry


def _samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(m.registry).decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counters_are_exported_at_zero_before_their_first_increment() -> None:
    m = Metrics()
    m.add_group("cache")
    got = _samples(m)
    fo = (
        "gungnir_failovers_total",
        (("group", "cache"), ("outcome", "aborted"), ("reason", "manual")),
    )
    assert got[fo] == 0
    for kind in ACTION_KINDS:
        assert got[("gungnir_actions_failed_total", (("group", "cache"), ("kind", kind)))] == 0
    for reason in PEER_REFUSALS:
        assert got[("gungnir_peer_refused_total", (("reason", reason),))] == 0
    sent = ("gungnir_peer_messages_total", (("direction", "sent"), ("type", "VoteRequest")))
    assert got[sent] == 0
    m.observe_probe("cache", "n1", up=True, role="master")
    got = _samples(m)
    probes = "gungnir_node_probes_total"
    assert got[(probes, (("group", "cache"), ("node", "n1"), ("outcome", "timeout")))] == 0
    assert got[(probes, (("group", "cache"), ("node", "n1"), ("outcome", "ok")))] == 1


def test_a_promoted_replica_loses_its_replica_only_series() -> None:
    m = Metrics()
    m.observe_probe("cache", "n2", up=True, role="slave", link_up=False, lag_seconds=4.0)
    key = ("gungnir_node_link_up", (("group", "cache"), ("node", "n2")))
    assert _samples(m)[key] == 0
    m.set_node("cache", "n2", lag_bytes=10)
    m.observe_probe("cache", "n2", up=True, role="master")
    names = {name for (name, labels) in _samples(m) if ("node", "n2") in labels}
    assert "gungnir_node_link_up" not in names
    assert "gungnir_node_replication_lag_seconds" not in names
    assert "gungnir_node_replication_lag_bytes" not in names
    assert "gungnir_node_up" in names


def test_is_leader_follows_leader_info_after_the_failover_ended() -> None:
    m = Metrics()
    t = Telemetry(m)
    s = Settings(group="cache", voters=("d1", "d2", "d3"), nodes=("n1", "n2"))
    st = init_state(s, "d1").replace(started=True, epoch=3)
    t.action("cache", Notify("+elected-leader", "3"), 10.0)
    t.state("cache", st)  # a follower again: its failover of epoch 3 ended
    got = _samples(m)
    assert got[("gungnir_leader_info", (("group", "cache"), ("leader", "d1")))] == 1
    assert got[("gungnir_is_leader", (("group", "cache"),))] == 1
    t.state("cache", st.replace(epoch=4))  # a newer epoch it does not lead
    assert _samples(m)[("gungnir_is_leader", (("group", "cache"),))] == 0

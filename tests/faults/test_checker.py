"""The checker finds planted anomalies in synthetic histories and none in clean ones."""

from __future__ import annotations

from typing import Any

import pytest

from gungnir.faults.checker import (
    availability,
    check,
    lost_increments,
    lost_writes,
    merge_intervals,
    two_primary_intervals,
    two_writer_intervals,
)

pytestmark = pytest.mark.faults

A, B = "10.0.0.1:6379", "10.0.0.2:6379"


def sadd(value: str, start: float, node: str, result: str = "ok", **kw: Any) -> dict[str, Any]:
    return {
        "client": 0, "op": "sadd", "value": value, "start": start, "end": start + 0.01,
        "result": result, "node": node, "wait_acks": kw.get("wait_acks"),
    }  # fmt: skip


def incr(value: int, start: float, node: str, result: str = "ok") -> dict[str, Any]:
    return {
        "client": 0, "op": "incr", "value": value, "start": start, "end": start + 0.01,
        "result": result, "node": node, "wait_acks": None,
    }  # fmt: skip


def probe(t: float, node: str, role: str) -> dict[str, Any]:
    return {"t": t, "node": node, "role": role, "following": None, "link_up": None}


def clean_failover() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A writes until 10, nothing for 2 s, B writes from 12; A is a replica from 11."""
    ops = [sadd(f"a{i}", i * 0.5, A) for i in range(20)]
    ops += [sadd(f"b{i}", 12 + i * 0.5, B) for i in range(20)]
    probes = [probe(t / 10, A, "master" if t < 110 else "slave") for t in range(0, 220)]
    probes += [probe(t / 10, B, "slave" if t < 115 else "master") for t in range(0, 220)]
    return ops, probes


def test_clean_history_reports_nothing() -> None:
    ops, probes = clean_failover()
    members = [o["value"] for o in ops]
    faults = [{"name": "f", "start": 10, "stop": 11, "primary": A}]
    final = {"members": members, "counter": 0, "converged": True, "primary": B}
    verdict = check(ops, probes, faults, final)
    assert verdict["sadd"]["lost"] == 0
    assert verdict["sadd"]["lost_window"] is None
    assert verdict["two_writer_intervals"] == []
    assert verdict["two_writer_s"] == 0
    assert verdict["two_primary_s"] == 0
    assert verdict["faults"][0]["failover_s"] == pytest.approx(2.01)
    assert verdict["converged"]


def test_planted_lost_write_is_found() -> None:
    ops, _ = clean_failover()
    members = [o["value"] for o in ops if o["value"] != "a7"]
    result = lost_writes(ops, members)
    assert result["lost"] == 1
    assert result["lost_values"] == ["a7"]
    assert result["lost_by_node"] == {A: 1}
    assert result["lost_window"] == (3.5, pytest.approx(3.51))


def test_lost_window_is_the_longest_run_on_one_node() -> None:
    """Flapping: A loses writes in two isolations with kept writes between them, B in one.
    The window is one node's longest run (what a lease bounds), the span the whole range."""
    ops = [sadd(f"a{i}", i, A) for i in range(4)]  # kept 0..3
    ops += [sadd(f"x{i}", 4 + i * 0.25, A) for i in range(4)]  # lost 4..4.76
    ops += [sadd(f"b{i}", 6 + i * 0.5, B) for i in range(3)]  # lost 6..7.01
    ops += [sadd(f"k{i}", 8 + i, A) for i in range(3)]  # kept 8..10
    ops += [sadd(f"y{i}", 12 + i * 0.5, A) for i in range(2)]  # lost 12..12.51
    lost = {o["value"] for o in ops if o["value"][0] in "xby"}
    result = lost_writes(ops, [o["value"] for o in ops if o["value"] not in lost])
    assert result["lost"] == 9
    assert [(r["node"], r["lost"]) for r in result["lost_runs"]] == [(A, 4), (B, 3), (A, 2)]
    assert result["lost_window"] == (6, pytest.approx(7.01))
    assert result["lost_window_s"] == pytest.approx(1.01)
    assert result["lost_span"] == (4, pytest.approx(12.51))
    assert result["lost_span_s"] == pytest.approx(8.51)


def test_unacknowledged_writes_missing_are_not_lost() -> None:
    ops = [sadd("x", 0, A, "fail"), sadd("y", 1, A, "unknown"), sadd("z", 2, A)]
    result = lost_writes(ops, ["z", "y"])
    assert result["lost"] == 0
    assert result["unknown_present"] == 1


def test_wait_acknowledged_losses_are_counted_apart() -> None:
    ops = [sadd("w1", 0, A, wait_acks=2), sadd("w2", 1, A, wait_acks=0), sadd("w3", 2, A)]
    result = lost_writes(ops, ["w3"], majority_replicas=1)
    assert result["lost"] == 2
    assert result["wait_acked"] == 1
    assert result["wait_acked_lost"] == 1


def test_planted_two_writer_interval_is_found() -> None:
    """A keeps accepting writes (and says master) while B accepts writes from t=5 to t=9."""
    ops = [sadd(f"a{i}", i * 0.5, A) for i in range(24)]  # A: 0 .. 11.5
    ops += [sadd(f"b{i}", 5 + i * 0.5, B) for i in range(9)]  # B: 5 .. 9
    probes = [probe(t / 10, A, "master") for t in range(120)]
    probes += [probe(t / 10, B, "master" if t >= 45 else "slave") for t in range(120)]
    intervals = two_writer_intervals(ops, probes)
    assert len(intervals) == 1
    (w,) = intervals
    assert w["nodes"] == [A, B]
    assert w["start"] == pytest.approx(5.0)
    assert w["end"] == pytest.approx(9.01)
    assert w["witnesses"] == 9 + 7  # B's writes between A's, and A's between B's
    assert two_primary_intervals(probes) == [(pytest.approx(4.5), pytest.approx(11.9))]


def test_a_single_stray_write_is_a_two_writer_interval() -> None:
    ops = [sadd(f"a{i}", float(i), A) for i in range(10)] + [sadd("b", 4.5, B)]
    (w,) = two_writer_intervals(ops)
    assert w["start"] == 4.5 and w["witnesses"] == 1


def test_switchover_and_back_is_not_two_writers() -> None:
    """A -> B -> A with A seen as a replica while B wrote: no overlap."""
    ops = [sadd(f"a{i}", float(i), A) for i in range(5)]  # 0..4
    ops += [sadd(f"b{i}", 5.0 + i * 0.2, B) for i in range(5)]  # 5..5.8
    ops += [sadd(f"c{i}", 7.0 + i, A) for i in range(5)]  # 7..11
    probes = [probe(4.6, A, "slave"), probe(6.5, A, "master")]
    assert two_writer_intervals(ops, probes) == []
    # Without the probe saying A was a replica, the same history is a two-writer interval.
    assert len(two_writer_intervals(ops, [])) == 1


def test_overlapping_operations_are_not_evidence() -> None:
    """Concurrent writes on two nodes at a hand-over do not prove two writers."""
    ops = [sadd("a1", 0.0, A), sadd("a2", 1.0, A)]
    ops.append({**sadd("b1", 0.995, B), "end": 1.02})  # overlaps a2
    assert two_writer_intervals(ops) == []


def test_increment_losses_and_duplicates() -> None:
    ops = [incr(1, 0, A), incr(2, 1, A), incr(3, 2, A), incr(1, 3, B), incr(4, 4, A, "fail")]
    result = lost_increments(ops, counter=1)
    assert result["acked"] == 4
    assert result["lost_lower_bound"] == 3
    assert result["duplicate_values"] == 1
    assert result["duplicate_examples"] == [1]


def test_recovery_and_unavailability() -> None:
    ops = [sadd("a", 0, A), sadd("b", 1, A, "fail"), sadd("c", 5, A, "unknown"), sadd("d", 6, B)]
    result = availability(ops, after=2.0)
    assert result["recovery_s"] == pytest.approx(3.01)
    assert result["recovered"]
    assert result["max_unavailable_s"] == pytest.approx(6.0)
    assert availability([sadd("a", 0, A), sadd("b", 3, A, "fail")], after=2.0)["recovered"] is False


def test_merge_intervals() -> None:
    assert merge_intervals([(5, 6), (0, 1), (1.5, 2)], gap=0.5) == [(0, 2), (5, 6)]
    assert merge_intervals([]) == []


def test_stale_probes_do_not_make_two_primaries() -> None:
    """A node last seen as master long ago is not counted as a current master."""
    probes = [probe(0.0, A, "master"), probe(5.0, B, "master"), probe(5.1, B, "master")]
    assert two_primary_intervals(probes, stale_after=1.0) == []

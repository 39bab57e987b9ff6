"""The pure story builder of ``gungnir history`` on records a daemon that missed epochs holds."""

from __future__ import annotations

from typing import Any

from gungnir.runtime.history import failovers, render
from gungnir.runtime.recall import Notices, notice_epoch


def rec(kind: str, daemon: str, epoch: int, t: float, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "daemon": daemon, "group": "cache", "epoch": epoch, "t": t, **fields}


def led(daemon: str, epoch: int, t: float, old: str, new: str) -> list[dict[str, Any]]:
    """The records of a failover ``daemon`` led, from ``old`` to ``new``."""
    return [
        rec("vote_granted", daemon, epoch, t, candidate=daemon),
        rec("leader_elected", daemon, epoch, t + 0.01, voters=[daemon, "d2"]),
        rec("fenced", daemon, epoch, t + 0.02, node=old),
        rec("promoted", daemon, epoch, t + 0.03, node=new),
        rec("config_published", daemon, epoch, t + 0.04, primary=new, replicas=[old]),
    ]


def test_a_missed_epoch_does_not_make_the_old_primary_the_last_one_seen() -> None:
    """Issue 22: d3 led epoch 1 (cache-0 -> cache-1), missed epochs 2-3 (back to cache-0),
    and led epoch 4 (cache-0 -> cache-1): its header said ``cache-1 -> cache-1``."""
    records = led("d3", 1, 10.0, "cache-0", "cache-1") + led("d3", 4, 50.0, "cache-0", "cache-1")
    first, fourth = failovers(records, "cache")
    assert (first.old_primary, first.new_primary) == ("cache-0", "cache-1")
    assert (fourth.old_primary, fourth.new_primary) == ("cache-0", "cache-1")
    assert "cache-0 -> cache-1" in render([fourth], "cache").splitlines()[0]


def test_without_a_fence_a_gap_leaves_the_old_primary_unknown() -> None:
    records = [
        *led("d3", 1, 10.0, "cache-0", "cache-1"),
        rec("vote_granted", "d3", 3, 30.0, candidate="d1"),
        rec("promoted", "d3", 3, 30.5, node="cache-2"),  # reconciling to d1's config
    ]
    third = failovers(records, "cache")[-1]
    assert third.old_primary is None and third.new_primary == "cache-2"
    assert "? -> cache-2" in render([third], "cache")
    # contiguous epochs still carry it
    records[-2:] = [
        rec("vote_granted", "d3", 2, 30.0, candidate="d1"),
        rec("promoted", "d3", 2, 30.5, node="cache-2"),
    ]
    assert failovers(records, "cache")[-1].old_primary == "cache-1"


def test_the_reason_comes_from_the_candidates_notices() -> None:
    notices = Notices("d1")
    notices.add("cache", 9.0, 0, "+odown", "cache-0")
    notices.add("cache", 10.005, 1, "+try-failover", "failover cache-1 epoch 1")
    notices.add("cache", 49.0, 1, "+try-failover", "switchover cache-0 epoch 2")
    notices.add("cache", 52.0, 2, "-failover-abort", "epoch 2: timeout")
    notices.add("cache", 53.0, 2, "-switchover-refused", "not kept")  # not a story notice
    records = [
        *led("d1", 1, 10.0, "cache-0", "cache-1"),
        rec("vote_granted", "d1", 2, 49.0, candidate="d1"),
        rec("leader_elected", "d1", 2, 49.1, voters=["d1", "d2"]),
        *notices.of("cache"),
    ]
    first, second = failovers(records, "cache")
    assert first.reason == "primary cache-0 objectively down"
    assert second.reason == "operator switchover to cache-0"
    assert second.outcome == "aborted: timeout" and second.old_primary == "cache-1"
    text = render([first, second], "cache")
    assert "  why: primary cache-0 objectively down" in text
    assert "d1  starts a failover: will promote cache-1" in text
    assert "d1  gives up: timeout" in text


def test_a_follower_that_only_saw_the_switch_knows_the_new_primary() -> None:
    notices = Notices("d3")
    notices.add("cache", 20.0, 2, "+switch-master", "cache-2 epoch 2")
    (fo,) = failovers(notices.of("cache"), "cache")
    assert fo.new_primary == "cache-2" and fo.outcome.startswith("followed")
    assert fo.reason == ""
    assert "why: not in these logs" in render([fo], "cache")


def test_a_resent_vote_request_is_kept_once() -> None:
    notices = Notices("d2")
    for t in (1.0, 1.1, 1.2):
        notices.heard("cache", t, 3, "switchover", "cache-2")
    notices.heard("cache", 2.0, 4, "failover", "cache-1")
    details = [n["detail"] for n in notices.of("cache")]
    assert details == ["switchover cache-2 epoch 3", "failover cache-1 epoch 4"]


def test_notice_epochs() -> None:
    assert notice_epoch("+try-failover", "failover n1 epoch 7", 6) == 7
    assert notice_epoch("+elected-leader", "7", 6) == 7
    assert notice_epoch("+vote-for-leader", "d2 7", 6) == 7
    assert notice_epoch("+odown", "n1", 6) == 6

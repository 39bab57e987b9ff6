"""The runner's decision-log replay: per-daemon logs merged on their shared clock, then checked.

No namespaces needed: these are synthetic logs in the shape the daemons write. A log set that
only makes sense merged (the votes are in the voters' files, the election in the leader's)
must pass; a planted forbidden step (a double vote) must fail the run and name the line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gungnir.faults.report import summarize
from gungnir.faults.runner import merge_decision_logs, replay_decisions
from gungnir.verify.trace import check_trace_file

pytestmark = pytest.mark.faults

VOTERS = ["d1", "d2", "d3"]


def rec(kind: str, daemon: str, t: float, **fields: Any) -> str:
    return json.dumps({"kind": kind, "daemon": daemon, "group": "gnf", "t": t, **fields})


def write_logs(tmp_path: Path, per_daemon: dict[str, list[str]]) -> list[Path]:
    paths = []
    for daemon, lines in per_daemon.items():
        path = tmp_path / daemon / "decisions.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = rec("header", daemon, 0.0, voters=VOTERS)
        path.write_text("\n".join([header, *lines]) + "\n")
        paths.append(path)
    return paths


def failover_logs(d3_votes_for: list[str]) -> dict[str, list[str]]:
    """d2 wins epoch 1 with d3's vote and fails over to n2; d3 may also grant d1 (planted)."""
    d3 = [rec("epoch_adopted", "d3", 10.2, epoch=1)]
    d3 += [
        rec("vote_granted", "d3", 10.21 + i / 100, epoch=1, candidate=c)
        for i, c in enumerate(d3_votes_for)
    ]
    return {
        "d1": [rec("epoch_adopted", "d1", 12.0, epoch=1)],
        "d2": [
            rec("epoch_adopted", "d2", 10.1, epoch=1),
            rec("vote_granted", "d2", 10.1, epoch=1, candidate="d2"),
            rec("leader_elected", "d2", 10.3, epoch=1, voters=["d2", "d3"]),
            rec("promoted", "d2", 10.4, epoch=1, node="n2"),
            rec("config_published", "d2", 10.5, epoch=1, primary="n2", replicas=["n1", "n3"]),
        ],
        "d3": d3,
    }


def test_merged_logs_pass_where_a_single_log_cannot(tmp_path: Path) -> None:
    paths = write_logs(tmp_path, failover_logs(["d2"]))
    alone = check_trace_file(paths[1])  # d2's log has no grant from d3: not a majority
    assert not alone.ok and alone.failure is not None
    assert alone.failure.rule == "LeaderHasMajority"

    merged = tmp_path / "merged.jsonl"
    assert merge_decision_logs(paths, merged) == 3 + 1 + 5 + 2
    times = [json.loads(line)["t"] for line in merged.read_text().splitlines()]
    assert times == sorted(times)
    verdict = replay_decisions(paths, merged)
    assert verdict["ok"], verdict["summary"]
    assert verdict["leaders"] == 1 and verdict["highest_epoch"] == 1
    assert verdict["failure"] is None


def test_planted_double_vote_fails_the_run(tmp_path: Path) -> None:
    paths = write_logs(tmp_path, failover_logs(["d2", "d1"]))
    verdict = replay_decisions(paths, tmp_path / "merged.jsonl")
    assert not verdict["ok"]
    failure = verdict["failure"]
    assert failure is not None and not failure["malformed"]
    assert '"candidate": "d1"' in failure["line"]

    record = _record_with(verdict)
    row = summarize(record)
    assert row["trace"] == "FAILED" and row["trace_ok"] is False


def test_missing_or_unreadable_logs_never_pass(tmp_path: Path) -> None:
    paths = write_logs(tmp_path, failover_logs(["d2"]))
    gone = tmp_path / "d4" / "decisions.jsonl"
    verdict = replay_decisions([*paths, gone], tmp_path / "merged.jsonl")
    assert not verdict["ok"] and verdict["missing_logs"] == [str(gone)]

    paths[0].write_text(paths[0].read_text() + "not json\n")
    verdict = replay_decisions(paths, tmp_path / "merged2.jsonl")
    assert not verdict["ok"] and verdict["failure"]["malformed"]


def _record_with(trace: dict[str, Any]) -> dict[str, Any]:
    """The smallest history record ``summarize`` accepts, carrying ``trace``."""
    empty_sadd = {"acked": 0, "lost": 0, "lost_window_s": 0.0}
    return {
        "scenario": "planted",
        "sut": {"name": "gungnir-consistency", "policy": "consistency", "lease_s": 2.6},
        "verdict": {
            "faults": [],
            "sadd": empty_sadd,
            "incr": {"acked": 0, "lost_lower_bound": 0},
            "two_writer_s": 0.0,
            "two_primary_s": 0.0,
            "availability": {},
            "converged": True,
        },
        "trace": trace,
    }

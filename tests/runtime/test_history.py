"""``gungnir history`` from a running daemon and from decision log files, after a real failover."""

from __future__ import annotations

import shutil

import pytest

from .failover_fixture import failed_over, run_cli
from .failover_fixture import history_json as _history_json

pytestmark = pytest.mark.slow
__all__ = ["failed_over"]


def test_history_asked_from_each_running_daemon(failed_over, capsys):
    leaders = set()
    for name, port in failed_over.ports.items():
        doc = _history_json(capsys, "-a", f"127.0.0.1:{port}", "--no-peers")
        (fo,) = doc["failovers"]
        assert fo["epoch"] == 1 and doc["sources"] == [f"daemon {name} at 127.0.0.1:{port}"]
        assert all(s["daemon"] == name for s in fo["steps"])  # one daemon's own decisions
        if fo["leader"] is not None:
            leaders.add(fo["leader"])
            assert fo["leader"] == name and fo["outcome"] == "completed"
            assert fo["new_primary"] == failed_over.new_primary
            assert name in fo["votes"] and len(fo["votes"]) >= 2  # a majority of three
            kinds = [s["kind"] for s in fo["steps"]]
            assert kinds.index("leader_elected") < kinds.index("promoted")
            assert kinds.index("promoted") < kinds.index("config_published")
    assert len(leaders) == 1  # exactly one daemon led epoch 1


def test_history_merges_the_decision_log_files(failed_over, capsys):
    logs = sorted(str(p) for p in failed_over.base.glob("*/decisions.jsonl"))
    assert len(logs) == 3
    args = [a for log in logs for a in ("--log", log)]
    doc = _history_json(capsys, *args)
    (fo,) = doc["failovers"]
    assert fo["new_primary"] == failed_over.new_primary and fo["outcome"] == "completed"
    voters = {s["daemon"] for s in fo["steps"] if s["kind"] == "vote_granted"}
    assert len(voters) >= 2 and fo["leader"] in voters
    ats = [s["at"] for s in fo["steps"]]
    assert ats == sorted(ats) and ats[0] == 0.0
    assert fo["started"] is not None  # anchored to wall time by the files' mtimes

    code, text, _ = run_cli(capsys, "history", "demo", *args)
    assert code == 0
    first = text.splitlines()[0]
    assert first.startswith("epoch 1  ") and f"-> {failed_over.new_primary}" in first
    assert f"leader {fo['leader']}" in first and "completed" in first
    assert f"{fo['leader']}  is elected leader" in text


def test_history_survives_a_torn_last_line(failed_over, capsys, tmp_path):
    logs = sorted(failed_over.base.glob("*/decisions.jsonl"))
    copies = []
    for p in logs:
        c = tmp_path / f"{p.parent.name}.jsonl"
        shutil.copy(p, c)
        copies.append(c)
    with copies[0].open("a") as fh:
        fh.write('{"kind": "promo')  # a daemon killed mid-line
    doc = _history_json(capsys, *[a for c in copies for a in ("--log", str(c))])
    assert [f["epoch"] for f in doc["failovers"]] == [1]


def test_history_bad_input_is_a_clear_error(failed_over, capsys, tmp_path):
    code, _, err = run_cli(capsys, "history", "demo", "--log", str(tmp_path / "missing.jsonl"))
    assert code == 1 and "missing.jsonl" in err and "cannot read" in err
    port = failed_over.ports["d1"]
    code, _, err = run_cli(capsys, "history", "nope", "-a", f"127.0.0.1:{port}")
    assert code == 1 and "no such group" in err
    log = str(next(failed_over.base.glob("*/decisions.jsonl")))
    code, out, _ = run_cli(capsys, "history", "other", "--log", log)
    assert code == 0 and out.startswith("no failover of group other")

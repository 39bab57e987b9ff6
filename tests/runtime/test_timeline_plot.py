"""Failover timelines: milestones from gungnir's and Sentinel's logs, JSON round trip, PNG."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import pytest

from gungnir.runtime import plot as plot_mod
from gungnir.runtime.timeline import (
    Timeline,
    gungnir_marks,
    load_timelines,
    save_timelines,
    sentinel_marks,
)


def test_from_writer_keeps_the_window_and_first_write() -> None:
    tl = Timeline.from_writer(
        "x", 100.0, [99.0, 99.8, 100.1, 101.2, 104.0], [100.2, 100.9], first_write=101.2
    )
    assert tl.acks == [-0.2, 0.1, 1.2]  # 99.0 is before the window, 104.0 after first + 1 s
    assert tl.failures == [0.2, 0.9]
    assert tl.marks == {"first write": 1.2} and tl.unavailable == 1.2


def test_gungnir_marks_from_decision_and_json_logs(tmp_path: Path) -> None:
    t_kill, offset = 50.0, 1_000_000.0
    dec = tmp_path / "decisions.jsonl"
    dec.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"kind": "leader_elected", "t": 40.0, "epoch": 1},  # before the kill: ignored
                {"kind": "leader_elected", "t": 51.0, "epoch": 2},
                {"kind": "promoted", "t": 51.01, "epoch": 2, "node": "n1"},
                {"kind": "config_published", "t": 51.02, "epoch": 2},
                {"kind": "config_published", "t": 51.5, "epoch": 2},  # later copy: first wins
            ]
        )
        + '\n{"kind": "promo'  # torn last line of a killed daemon
    )
    op = tmp_path / "d1.log"
    lines = [
        {"ts": offset + 50.9, "event": "+sdown", "msg": "group g epoch 1: +sdown n2"},
        {"ts": offset + 50.95, "event": "+sdown", "msg": "group g epoch 1: +sdown n0"},
        {"ts": offset + 50.97, "event": "+odown", "msg": "group g epoch 1: +odown n0"},
    ]
    op.write_text("plain text line\n" + "\n".join(json.dumps(x) for x in lines))
    tl = Timeline("g")
    gungnir_marks(tl, t_kill, [dec], [op], wall_offset=offset, old_primary="n0")
    assert tl.marks == pytest.approx(
        {"elected": 1.0, "promoted": 1.01, "routed": 1.02, "detected": 0.95, "agreed": 0.97}
    )


def test_sentinel_marks_from_its_log(tmp_path: Path) -> None:
    base = datetime(2026, 11, 26, 12, 0, 0).timestamp()  # local time, as Valkey logs it
    t_kill, offset = 10.0, base - 10.0  # the kill happened at wall time ``base``

    def line(ms: int, text: str) -> str:
        stamp = datetime.fromtimestamp(base + ms / 1000).strftime("%d %b %Y %H:%M:%S.%f")[:-3]
        return f"4242:X {stamp} # {text}"

    log = tmp_path / "sentinel.log"
    log.write_text(
        "\n".join(
            [
                line(1050, "+sdown master bench 127.0.0.1 7000"),
                line(1160, "+odown master bench 127.0.0.1 7000 #quorum 2/2"),
                line(1260, "+elected-leader master bench 127.0.0.1 7000"),
                line(1330, "+failover-state-send-slaveof-noone slave 127.0.0.1:7001 ..."),
                line(2190, "+failover-state-reconf-slaves master bench 127.0.0.1 7000"),
                line(2300, "+switch-master bench 127.0.0.1 7000 127.0.0.1 7001"),
                "garbage",
            ]
        )
    )
    tl = Timeline("s")
    sentinel_marks(tl, t_kill, [log], wall_offset=offset)
    assert tl.marks == pytest.approx(
        {"detected": 1.05, "agreed": 1.16, "elected": 1.26, "promoted": 1.33, "routed": 2.19}
    )


def _sample() -> list[Timeline]:
    a = Timeline.from_writer("a", 0.0, [-0.1, 1.1, 1.2], [0.1, 0.5, 1.0], first_write=1.1)
    a.marks.update(detected=0.9, elected=1.0)
    b = Timeline.from_writer("b", 0.0, [-0.2, 2.0], [0.3], first_write=2.0)
    return [a, b]


def test_json_round_trip(tmp_path: Path) -> None:
    save_timelines(tmp_path / "t.json", _sample(), title="t")
    back, meta = load_timelines(tmp_path / "t.json")
    assert back == _sample() and meta == {"title": "t"}


def test_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    save_timelines(tmp_path / "t.json", _sample())
    assert plot_mod.main([str(tmp_path / "t.json")]) == 0
    png = tmp_path / "t.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert str(png) in capsys.readouterr().out


def test_plot_without_matplotlib_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    save_timelines(tmp_path / "t.json", _sample())
    assert plot_mod.main([str(tmp_path / "t.json")]) == 1
    assert "pip install" in capsys.readouterr().err
    assert not (tmp_path / "t.png").exists()


def test_plot_refuses_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    assert plot_mod.main([str(tmp_path / "bad.json")]) == 2
    assert "cannot read" in capsys.readouterr().err

"""The campaign plot: a real PNG beside summary.md, and a clear note without matplotlib."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from gungnir.faults.plot import MISSING_MATPLOTLIB, plot_campaign
from gungnir.faults.report import campaign_markdown

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows(root: Path) -> list[dict[str, Any]]:
    """Summary rows shaped like ``report.summarize`` output, with varied numbers."""
    numbers = {
        ("sentinel", "isolate-primary-15s"): (412, 14.2, 3.1),
        ("gungnir-availability", "isolate-primary-15s"): (35, 6.3, 0.4),
        ("gungnir-consistency", "isolate-primary-15s"): (0, 7.9, 0.5),
        ("sentinel", "kill-primary-15s"): (88, 11.0, 1.2),
        ("gungnir-availability", "kill-primary-15s"): (2, 5.1, None),
        ("gungnir-consistency", "kill-primary-15s"): (0, 5.8, 0.3),
        ("sentinel", "isolate-primary-15s-minreplicas"): (120, 15.0, 2.0),
    }
    rows = []
    for (sut, scenario), (lost, unavailable, recovery) in numbers.items():
        run_dir = root / f"{sut}-{scenario}"
        run_dir.mkdir(parents=True)
        rows.append(
            {
                "sut": sut,
                "scenario": scenario,
                "lost": lost,
                "sadd_acked": 5000,
                "max_unavailable_s": unavailable,
                "recovery_s": recovery,
                "run_dir": str(run_dir),
            }
        )
    rows.append({"sut": "gungnir-consistency", "scenario": "pause-primary-15s", "error": "boom"})
    return rows


def test_campaign_report_writes_and_links_a_real_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    root = tmp_path / "campaign"
    rows = _rows(root)
    text = campaign_markdown("synthetic campaign", rows, "python -m gungnir.faults.campaign")
    png = root / "plot.png"
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 20_000  # three panels of bars and labels, not an empty canvas
    assert "](plot.png)" in text
    assert "| sentinel | isolate-primary-15s |" in text  # the table is still there


def test_plot_size_grows_with_the_campaign(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rows = _rows(tmp_path / "runs")
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    assert plot_campaign(rows[:1], small) is None
    assert plot_campaign(rows, large) is None
    assert small.read_bytes()[:8] == PNG_MAGIC == large.read_bytes()[:8]
    assert large.stat().st_size > small.stat().st_size


def test_nothing_to_plot_is_said_not_drawn(tmp_path: Path) -> None:
    out = tmp_path / "plot.png"
    assert plot_campaign([{"error": "never started"}], out) == "plot skipped: no runs to draw"
    assert not out.exists()


def test_without_matplotlib_the_report_is_written_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    root = tmp_path / "campaign"
    rows = _rows(root)
    text = campaign_markdown("synthetic campaign", rows, "cmd")
    assert MISSING_MATPLOTLIB in text
    assert "](plot.png)" not in text
    assert "| gungnir-consistency | kill-primary-15s |" in text
    assert not (root / "plot.png").exists()
    assert MISSING_MATPLOTLIB in capsys.readouterr().err

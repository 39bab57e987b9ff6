"""The progress line: rewritten in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

import pytest

from gungnir.progress import Progress
from gungnir.verify.cli import main


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_terminal_line_is_rewritten_in_place_throttled_and_rate_follows_the_clock() -> None:
    out, clock = FakeTTY(), FakeClock()
    bar = Progress(out, clock=clock, min_interval=0.25)
    assert bar.live
    clock.now += 2.0
    bar.update(1000, 3)
    first = out.getvalue()
    assert first.startswith("\r") and "\n" not in first
    assert "1000 states, depth 3" in first and "500 states/s" in first
    clock.now += 0.1  # too soon: no redraw
    bar.update(1100, 3)
    assert out.getvalue() == first
    clock.now += 0.4  # 2.5 s since the start
    bar.update(5000, 4)
    text = out.getvalue()
    assert text.count("\r") == 2 and "\n" not in text
    assert "5000 states, depth 4" in text and "2000 states/s" in text
    clock.now += 0.1  # held back by the throttle (2.6 s since the start)...
    bar.update(6000, 5)
    assert out.getvalue() == text
    clock.now += 7.0  # ...and drawn by done(), timed when it was reported
    bar.done()
    final = out.getvalue()
    assert final.endswith("\n") and final.count("\n") == 1
    assert final.rsplit("\r", 1)[1].strip() == "...6000 states, depth 5, 3s, 2308 states/s"


def test_a_shorter_line_blanks_the_rest_of_the_longer_one() -> None:
    out, clock = FakeTTY(), FakeClock()
    bar = Progress(out, clock=clock, min_interval=0)
    clock.now += 1.0
    bar.update(123456789, 12)
    long_len = len(out.getvalue()) - 1
    clock.now += 1000.0
    bar.update(1, 1)
    last = out.getvalue().rsplit("\r", 1)[1]
    assert len(last) == long_len  # padded over the old text


def test_not_a_terminal_writes_one_plain_line_per_update() -> None:
    out, clock = io.StringIO(), FakeClock()
    bar = Progress(out, clock=clock)
    assert not bar.live
    clock.now += 4.0
    bar.update(50000, 6)
    clock.now += 0.01  # plain mode is not throttled: the caller reports rarely
    bar.update(100000, 7)
    bar.done()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "  ...50000 states, depth 6, 4s, 12500 states/s"
    assert lines[1].startswith("  ...100000 states, depth 7, 4s, 24938 states/s")
    assert len(lines) == 2


def test_done_without_updates_writes_nothing() -> None:
    out = FakeTTY()
    Progress(out, clock=FakeClock()).done()
    assert out.getvalue() == ""


@pytest.mark.slow
def test_verify_cli_reports_plain_lines_with_rate_when_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Long enough for the first plain line (every 2 s), short enough not to be a checker run.
    code = main(["--scope", "small", "--max-states", "20000"])
    out = capsys.readouterr().out
    assert code in (0, 2)
    report = [line for line in out.splitlines() if line.startswith("  ...")]
    assert report and "states/s" in report[0] and "\r" not in out

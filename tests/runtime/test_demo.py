"""``gungnir demo`` end to end: a real failover, a timeline, nothing left running."""

from __future__ import annotations

import re

import pytest

from gungnir.demo import main

pytestmark = pytest.mark.slow


def test_demo_fails_over_and_prints_the_timeline(capsys):
    assert main() == 0
    out = capsys.readouterr().out
    for milestone in ("detected", "agreed", "elected", "fenced", "promoted", "first write"):
        assert milestone in out, out
    m = re.search(r"write unavailability: (\d+) ms", out)
    assert m and 0 < int(m.group(1)) < 30_000
    m = re.search(r"acknowledged writes: (\d+), lost: (\d+)", out)
    assert m and int(m.group(1)) > 200
    assert "rejoined as a replica" in out
    assert "stopped every process" in out

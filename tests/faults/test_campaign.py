"""The campaign CLI and the SUT interface, without running anything heavy."""

from __future__ import annotations

import pytest

from gungnir.faults.campaign import main, scenarios
from gungnir.faults.sut import GungnirSUT

pytestmark = pytest.mark.faults


def test_ci_campaign_is_small_and_names_are_unique() -> None:
    ci = scenarios("ci")
    full = scenarios("full")
    assert 3 <= len(ci) <= 6
    assert sum(s.fault_s + s.warmup_s + s.settle_s for s in ci) < 150
    names = [s.name for s in full]
    assert len(names) == len(set(names))
    assert {s.name for s in ci} <= set(names)


def test_list_and_filter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list", "--campaign", "full", "--only", "kill"]) == 0
    out = capsys.readouterr().out
    assert "kill-primary-15s" in out and "pause" not in out
    assert main(["--list", "--only", "no-such-scenario"]) == 1


def test_gungnir_sut_is_an_honest_stub() -> None:
    sut = GungnirSUT({"policy": "consistency"})
    with pytest.raises(NotImplementedError, match="not available yet"):
        sut.host_names()
    with pytest.raises(NotImplementedError):
        sut.client(0)
    sut.stop()  # nothing started, nothing to stop

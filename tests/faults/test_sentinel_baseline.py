"""Sentinel under real faults: the checker must measure real, documented losses.

These are the baseline's known behaviours, so they are what the assertions expect: an
isolated Sentinel-managed primary keeps acknowledging writes that the promoted replica never
sees, for the whole partition and until Sentinel demotes it after the heal; with
``min-replicas-to-write`` the window shrinks to about ``min-replicas-max-lag``. A harness that
reported no loss here would be broken.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gungnir.faults import nemesis as nm
from gungnir.faults.campaign import MIN_REPLICAS
from gungnir.faults.net import run
from gungnir.faults.runner import Scenario, recheck, run_scenario
from gungnir.faults.sentinel import SentinelSUT
from gungnir.faults.sut import SystemUnderTest
from gungnir.faults.workload import WorkloadConfig
from gungnir.local import pid_alive

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.usefixtures("net_ready")]


def sentinel(options: Mapping[str, Any]) -> SystemUnderTest:
    return SentinelSUT(options)


def _run(scenario: Scenario, results: Path) -> dict[str, Any]:
    lines: list[str] = []
    summary = run_scenario(scenario, sentinel, results, progress=lines.append)
    assert lines, "progress lines are reported"
    assert summary["errors"] == 0
    run_dir = Path(summary["run_dir"])
    history = json.loads((run_dir / "history.json").read_text())
    assert history["ops"] and history["probes"]
    assert "lost" in (run_dir / "report.md").read_text()
    assert recheck(run_dir) == summary, "the recorded history alone gives the same verdict"
    return summary


def test_isolated_primary_loses_every_write_it_acknowledged(results_dir: Path) -> None:
    summary = _run(Scenario("isolate-primary-15s", lambda t: nm.Isolate(t), 15), results_dir)
    assert summary["old_primary_sadd_acked"] > 100
    assert summary["lost"] >= summary["old_primary_sadd_lost"] == summary["old_primary_sadd_acked"]
    # Acknowledged-then-lost for the whole partition and beyond, until Sentinel demotes it.
    assert summary["lost_window_s"] > 15
    assert summary["incr_lost_lower_bound"] > 0
    assert summary["two_primary_s"] > 10
    assert summary["converged"]


def test_min_replicas_bounds_the_window_and_churn_shows_two_writers(results_dir: Path) -> None:
    scenario = Scenario(
        "isolate-primary-15s-minreplicas-churn",
        lambda t: nm.Isolate(t),
        15,
        sut_options=MIN_REPLICAS,
        workload=WorkloadConfig(reconnect_s=4.0),
    )
    summary = _run(scenario, results_dir)
    assert summary["lost"] > 0
    # The old primary stops acknowledging once its replicas lag more than 10 s.
    assert 8 < summary["old_primary_last_ack_s"] < 14
    assert summary["lost_window_s"] < 14
    # Clients that re-asked the majority's Sentinels wrote to the new primary meanwhile.
    assert summary["failover_s"] is not None and summary["failover_s"] < 10
    assert summary["two_writer_s"] > 0
    assert summary["converged"]


def test_kill_primary_fails_over_and_converges(results_dir: Path) -> None:
    summary = _run(Scenario("kill-primary-8s", lambda t: nm.Kill(t, "primary"), 8), results_dir)
    assert summary["failover_s"] is not None and summary["failover_s"] < 8
    assert summary["two_writer_s"] == 0
    assert summary["converged"]


class _Broken(nm.Nemesis):
    name = "broken"

    def _start(self) -> None:
        raise RuntimeError("nemesis broke")

    def _stop(self) -> None:
        raise AssertionError("never started, so never stopped")


def test_a_failing_run_reports_why_and_leaves_nothing(results_dir: Path) -> None:
    suts: list[SystemUnderTest] = []

    def make(options: Mapping[str, Any]) -> SystemUnderTest:
        suts.append(SentinelSUT(options))
        return suts[-1]

    before = set(run(["ip", "netns", "list"]).split())
    with pytest.raises(RuntimeError, match="nemesis broke"):
        run_scenario(Scenario("broken", lambda t: _Broken(), 5, warmup_s=0.5), make, results_dir)
    (sut,) = suts
    pids = [p.pid for p in [*sut.nodes.values(), *sut.daemons.values()]]
    assert len(pids) == 6
    assert all(pid is None or not pid_alive(pid) for pid in pids)
    assert set(run(["ip", "netns", "list"]).split()) <= before | _other_runs()
    history = json.loads((results_dir / "sentinel-broken" / "history.json").read_text())
    assert any("nemesis broke" in e for e in history["errors"])
    assert history["ops"], "the operations before the failure are kept"


def _other_runs() -> set[str]:
    """Namespaces of other, concurrent test runs (not this process's)."""
    mine = f"gnf-{os.getpid()}x"
    return {n for n in run(["ip", "netns", "list"]).split() if not n.startswith(mine)}

"""The campaign CLI and the SUT interface, without running anything heavy."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gungnir.faults.campaign import HARDENED, main, scenarios, unsafe
from gungnir.faults.daemons import GungnirSUT
from gungnir.runtime.config import load

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


def _fake_net(names: list[str]) -> Any:
    hosts = {
        n: SimpleNamespace(address=f"10.213.9.{i}", launcher=[]) for i, n in enumerate(names, 1)
    }
    return SimpleNamespace(hosts=hosts)


@pytest.mark.parametrize("policy", ["availability", "consistency"])
def test_gungnir_sut_writes_configs_the_daemon_accepts(tmp_path: Path, policy: str) -> None:
    """Each daemon's file passes the daemon's own validation (timing rule included)."""
    sut = GungnirSUT({"policy": policy, "min_replicas_to_write": 1})
    assert sut.name == f"gungnir-{policy}"
    net = _fake_net(list(sut.host_names()))
    daemon = sut._make_daemon("d2", net, tmp_path, None)  # type: ignore[arg-type]
    config = load(daemon.config_file)  # type: ignore[attr-defined]
    assert config.id == "d2" and config.bind == ("10.213.9.5", 26379)
    assert sorted(config.peers) == ["d1", "d2", "d3"]
    (group,) = config.groups.values()
    assert group.name == "gnf"  # the Sentinel service name the clients ask for
    assert group.settings.policy == policy
    assert group.settings.initial_primary == "n1"
    assert group.nodes["n3"] == ("10.213.9.3", 6379)
    assert sut.lease_s == pytest.approx(group.settings.lease)
    assert sut.decision_logs() == [tmp_path / "decisions.jsonl"]
    assert config.decision_log == tmp_path / "decisions.jsonl"
    # WAIT for a majority only where the policy promises something for it.
    assert sut.workload_wait() == ((1, 500) if policy == "consistency" else None)
    assert "min_replicas_to_write" not in json.dumps(sut.describe())


def test_sentinel_only_scenarios_are_not_run_against_gungnir(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--list", "--sut", "all", "--only", "isolate-primary-15s"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("sentinel") and "minreplicas" in ln for ln in lines)
    assert not any(ln.startswith("gungnir") and "minreplicas" in ln for ln in lines)
    assert sum(ln.startswith("gungnir-consistency") for ln in lines) == 2


def test_expect_safe_gate_is_the_consistency_acceptance() -> None:
    """Rows shaped like the campaign's own (numbers from docs/faults.md)."""
    clean = {"two_writer_s": 0.0, "lost": 0, "lost_window_s": 0.0}
    assert unsafe(clean) == ""
    in_lease = {**clean, "lost": 14, "lost_window_s": 2.5, "lease_s": 2.6, "wait_acked_lost": 0}
    assert unsafe(in_lease) == ""
    assert "lease 2.6 s" in unsafe({**in_lease, "lost_window_s": 3.1})
    assert "WAIT" in unsafe({**in_lease, "wait_acked_lost": 245})
    assert "two writers" in unsafe({**clean, "two_writer_s": 13.8})
    sentinel = {**clean, "lost": 2010, "lost_window_s": 25.1}  # no lease: any loss fails
    assert "2010 acknowledged writes lost" in unsafe(sentinel)


def test_repeat_runs_each_scenario_under_its_own_name(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--list", "--campaign", "full", "--sut", "gungnir-consistency"]
    assert main([*args, "--only", "restart-empty-primary", "--repeat", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [ln.split()[1] for ln in lines]
    assert names == [f"restart-empty-primary-r{i}" for i in (1, 2, 3)]
    assert all("fault 10 s" in ln for ln in lines)  # the scenario itself is unchanged
    assert main([*args, "--only", "restart-empty-primary"]) == 0
    assert capsys.readouterr().out.split()[1] == "restart-empty-primary"
    with pytest.raises(SystemExit):
        main([*args, "--repeat", "0"])


@pytest.mark.parametrize("policy", ["availability", "consistency"])
def test_hardened_preset_goes_to_the_nodes_not_the_daemons(tmp_path: Path, policy: str) -> None:
    """The hardened nodes' settings are the nodes' own config; the daemons keep the policy's
    max-lag and the operator's higher min-replicas-to-write is what readiness expects."""
    sut = GungnirSUT({"policy": policy, **HARDENED})
    assert sut._node_config() == {"min-replicas-to-write": "1", "min-replicas-max-lag": "10"}
    net = _fake_net(list(sut.host_names()))
    daemon = sut._make_daemon("d1", net, tmp_path, None)  # type: ignore[arg-type]
    (group,) = load(daemon.config_file).groups.values()  # type: ignore[attr-defined]
    assert group.settings.min_replicas_max_lag == 2.0
    assert sut.write_quorum == 1  # availability keeps the operator's 1, consistency needs 1
    assert GungnirSUT({"policy": policy})._node_config() == {}
    assert any(s.name == "isolate-primary-15s-hardened" for s in scenarios("full"))

"""Convergence from drift: every arrangement of the nodes at time 0 (roles, replication
links, pauses, write quorums) converges to one routed primary, on 3 daemons x 3 nodes."""

from __future__ import annotations

import dataclasses

import pytest

from gungnir.core import PRIMARY, reconcile
from gungnir.verify.cli import main as verify_main
from gungnir.verify.drift import check_drift, drifted
from gungnir.verify.scopes import SCOPES
from gungnir.verify.world import Model


def _model(policy: str) -> Model:
    return Model(dataclasses.replace(SCOPES["default"], policy=policy))


def test_drifted_starts_cover_every_role_link_and_setting():
    starts = dict(drifted(_model("consistency")))
    assert len(starts) == (3 * 4) ** 3
    swapped = "n1 replica of n2 min-replicas 1; n2 primary min-replicas 1; n3 replica of n1"
    assert any(s.startswith(swapped) for s in starts)


@pytest.mark.parametrize("policy", ["consistency", "availability"])
def test_every_drifted_start_converges(policy):
    res = check_drift(_model(policy))
    assert res.ok, res.summary()
    assert res.checked == (3 * 4) ** 3


def test_drift_check_catches_a_core_that_leaves_a_demoted_primary(monkeypatch):
    """The reconcile of issue 22: the config's primary demoted by hand next to a primary
    promoted by hand was left alone.  Restore that and the check must fail."""
    fixed = reconcile.corrections

    def old(st):
        p = st.config.primary
        pv = st.view(p) if p is not None else None
        if pv is not None and pv.reachable and pv.role != PRIMARY:
            if any(v.reachable and v.role == PRIMARY for v in st.nodes if v.node != p):
                return []
        return fixed(st)

    monkeypatch.setattr(reconcile, "corrections", old)
    res = check_drift(_model("availability"))
    assert not res.ok
    assert "2 primaries" in res.failures[0][1]


def test_verify_cli_runs_the_drift_check_and_fails_on_a_failure(capsys, monkeypatch):
    from gungnir.verify import drift

    monkeypatch.setattr(drift, "check_drift", lambda model: drift.DriftResult(checked=7))
    assert verify_main(["--scope", "drift"]) == 0
    out = capsys.readouterr().out
    assert "policy consistency" in out and "policy availability" in out and "7 starting" in out
    bad = drift.DriftResult(checked=7, failures=[("n1 primary", "2 primaries")])
    monkeypatch.setattr(drift, "check_drift", lambda model: bad)
    assert verify_main(["--scope", "drift", "--policy", "availability"]) == 1
    assert "first: n1 primary: 2 primaries" in capsys.readouterr().out

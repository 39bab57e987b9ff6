"""``gungnir failover --to <the current primary>`` is refused, with the reason, and nothing
is fenced: the primary keeps taking writes (issue 22)."""

from __future__ import annotations

import json

import pytest

from .failover_fixture import failed_over, run_cli

pytestmark = pytest.mark.slow
__all__ = ["failed_over"]


def _group(capsys, addr):
    code, out, _ = run_cli(capsys, "status", "-a", addr, "--json")
    assert code == 0
    return next(g for g in json.loads(out)["groups"] if g["group"] == "demo")


def test_failover_to_the_current_primary_is_refused(failed_over, capsys):
    addr = f"127.0.0.1:{failed_over.ports['d1']}"
    new = failed_over.new_primary
    before = _group(capsys, addr)
    code, out, err = run_cli(capsys, "failover", "demo", "--to", new, "-a", addr, "--wait", "2")
    assert code == 1
    assert f"{new} is already the primary of demo" in err and "nothing to switch over" in err
    assert "requested" not in out
    after = _group(capsys, addr)
    assert after["primary"] == new and after["failover"] is None and after["role"] == "follower"
    assert after["epoch"] == before["epoch"]  # no election was started

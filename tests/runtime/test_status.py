"""``gungnir status``: a table, colour only on a terminal, ``--json`` unchanged."""

from __future__ import annotations

import json
import re
import time

import pytest

from gungnir.runtime.render import render_status, use_colour

from .failover_fixture import failed_over, run_cli

pytestmark = pytest.mark.slow
__all__ = ["failed_over"]

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_status_table_without_colour_when_not_a_tty(failed_over, capsys, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    port = failed_over.ports["d1"]
    code, out, _ = run_cli(capsys, "status", "-a", f"127.0.0.1:{port}")
    assert code == 0 and "\x1b[" not in out  # captured stdout is not a terminal
    lines = out.splitlines()
    assert lines[0].startswith("daemon d1") and "d2 up" in lines[0] and "d3 up" in lines[0]
    header = next(i for i, x in enumerate(lines) if x.startswith("GROUP"))
    group_row = lines[header + 1].split()
    assert group_row[:2] == ["demo", failed_over.new_primary] and group_row[3] == "1"
    node_lines = {x.split()[1]: x for x in lines if x.startswith("  * ")}
    assert list(node_lines) == [failed_over.new_primary]  # exactly one primary marked
    assert "primary" in node_lines[failed_over.new_primary]
    dead = next(x for x in lines if x.strip().startswith("node-0"))
    assert "DOWN" in dead


def test_status_json_is_the_daemon_snapshot(failed_over, capsys):
    port = failed_over.ports["d2"]
    code, out, _ = run_cli(capsys, "status", "-a", f"127.0.0.1:{port}", "--json")
    st = json.loads(out)
    assert code == 0 and st["daemon"] == "d2"
    assert st["groups"][0]["primary"] == failed_over.new_primary
    assert "\x1b[" not in out


def test_status_colour_on_a_terminal_and_same_layout(failed_over, capsys):
    port = failed_over.ports["d3"]
    code, out, _ = run_cli(capsys, "status", "-a", f"127.0.0.1:{port}", "--json")
    assert code == 0
    st = json.loads(out)
    coloured = render_status(st, colour=True)
    plain = render_status(st, colour=False)
    assert "\x1b[" in coloured and "\x1b[" not in plain
    assert ANSI.sub("", coloured) == plain  # colour never shifts a column
    assert "\x1b[1;31mDOWN" in coloured  # the dead old primary stands out in red


class _Tty:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_use_colour_follows_tty_no_color_and_dumb_terminals():
    assert use_colour(_Tty(True), env={}) is True
    assert use_colour(_Tty(False), env={}) is False
    assert use_colour(_Tty(True), env={"NO_COLOR": "1"}) is False
    assert use_colour(_Tty(True), env={"NO_COLOR": ""}) is True  # empty means unset
    assert use_colour(_Tty(True), env={"TERM": "dumb"}) is False


def test_status_names_the_leader_the_last_failover_and_lag_in_seconds(failed_over, capsys):
    """Issue 22: status showed neither who leads nor the last failover (when and why), and
    replication lag only in bytes."""
    snapshots = {}
    for name, port in failed_over.ports.items():
        code, out, _ = run_cli(capsys, "status", "-a", f"127.0.0.1:{port}", "--json")
        assert code == 0
        snapshots[name] = json.loads(out)["groups"][0]
    leaders = {g["leader"] for g in snapshots.values()}
    assert len(leaders) == 1 and leaders <= set(failed_over.ports), leaders  # all agree
    (leader,) = leaders
    for name, g in snapshots.items():
        fo = g["last_failover"]
        # epoch 1, or a later one when two candidates split the first vote
        assert fo["epoch"] == g["config_epoch"] and fo["new"] == failed_over.new_primary
        assert fo["old"] == "node-0", (name, fo)  # named by the +odown
        assert fo["at"] is not None and abs(fo["at"] - time.time()) < 120
        assert fo["reason"] == "primary node-0 objectively down", (name, fo)
        if name == leader:
            assert fo["leader"] == leader
        nodes = {n["node"]: n for n in g["nodes"]}
        assert nodes[failed_over.new_primary]["lag_seconds"] is None  # a primary has no lag
        replicas = [n for n in g["nodes"] if n["reachable"] and n["role"] in ("slave", "replica")]
        assert replicas and all(0 <= n["lag_seconds"] < 30 for n in replicas)

    code, out, _ = run_cli(capsys, "status", "-a", f"127.0.0.1:{failed_over.ports[leader]}")
    lines = out.splitlines()
    header = next(i for i, x in enumerate(lines) if x.startswith("GROUP"))
    assert "LEADER" in lines[header].split() and leader in lines[header + 1].split()
    last = next(x for x in lines if "last failover" in x)
    assert f"epoch {snapshots[leader]['config_epoch']} at " in last
    assert f"-> {failed_over.new_primary}, led by {leader}" in last
    assert last.endswith("because primary node-0 objectively down")
    node_header = next(x for x in lines if x.strip().startswith("NODE"))
    assert node_header.split()[3:6] == ["OFFSET", "BEHIND", "LAG"]
    replica = next(x for x in lines if "replica of" in x and " up" in x)
    assert re.search(r"\s\d+\.\ds\s", replica), replica


def test_last_failover_text_without_records() -> None:
    from gungnir.runtime.render import last_failover

    fo = {"epoch": 4, "at": None, "old": None, "new": "n2", "leader": None, "reason": ""}
    fo["outcome"] = "not in this daemon's records (gungnir history)"
    assert last_failover(fo) == (
        "epoch 4: ? -> n2 (not in this daemon's records (gungnir history))"
    )
    fo |= {"at": 1000.0, "old": "n1", "leader": "d2", "reason": "operator switchover to n2"}
    assert last_failover(fo, now=1300.0) == (
        "epoch 4 at 1970-01-01 00:16:40Z (5m ago): n1 -> n2, led by d2, because "
        "operator switchover to n2"
    )
